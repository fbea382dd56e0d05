"""Text and JSON output for the engines."""

from cowlab.report.run_report import action_text, print_run, run_json, verdict

__all__ = ["action_text", "print_run", "run_json", "verdict"]
