"""Engines: deterministic replay (and, later, the model checker, bisect, matrix)."""

from cowlab.engine.run import Replay, RunResult, StepRecord, run_scenario

__all__ = ["Replay", "RunResult", "StepRecord", "run_scenario"]
