"""Text report helpers."""

from __future__ import annotations

from cowlab.report.run_report import collapse_passes


def test_identical_migration_passes_collapse() -> None:
    lines = []
    for n in range(1, 6):
        lines += ["unmap", f"check (pass {n}/5)"]
    lines.append("putback")
    out = collapse_passes(lines)
    assert out[:2] == ["unmap", "check (pass 1/5)"]
    assert "... 3 more identical migration passes ..." in out
    assert out[-3:] == ["unmap", "check (pass 5/5)", "putback"]


def test_different_passes_are_kept() -> None:
    lines = ["a", "x (pass 1/3)", "b", "x (pass 2/3)", "c", "x (pass 3/3)"]
    assert collapse_passes(lines) == lines


def test_identical_consecutive_steps_print_once_with_their_count() -> None:
    """A counterexample's run of identical failed migration passes (choose trylock_fail)
    is one line with the step range and the count, not one block per step."""
    from rich.console import Console

    from cowlab.check.runner import run_check
    from cowlab.history import kernel_at
    from cowlab.report.run_report import print_run
    from cowlab.scenario.catalog import load_named_config

    run = run_check(load_named_config("gaudi-open"), kernel_at("v5.17"))
    console = Console(record=True, width=200)
    print_run(run.replay, console)
    text = console.export_text()
    assert "(8 identical steps)" in text
    assert text.count("trylock_page(pfn 1) failed") == 2  # the run, and the last step


def test_run_state_shows_what_each_step_changed() -> None:
    """`run --state` prints, under each step, the PTEs, page counts and flags and pins it
    changed; `run --json` carries the whole state after each step."""
    import json

    from typer.testing import CliRunner

    from cowlab.cli import app

    text = CliRunner().invoke(app, ["run", "gaudi", "--state"]).output
    assert "~ pfn 1: refcount 1 -> 1025, +pins 1" in text
    assert "+ dma: pin by device on pfn 1 (R/W, long-term)" in text
    assert ("~ P vpn 0x100: writable migration entry for pfn 1 -> readable migration entry for pfn 1") in text
    data = json.loads(CliRunner().invoke(app, ["run", "gaudi", "--json"]).output)
    last = data["steps"][-1]["state"]
    assert last["ptes"]["P vpn 0x100"].startswith("pfn 2 ")  # the CPU's copy
    assert last["pins"]["dma"].startswith("pin by device on pfn 1")  # the device's page


def test_check_json_counterexample_carries_the_state_of_each_step() -> None:
    import json

    from typer.testing import CliRunner

    from cowlab.cli import app

    data = json.loads(CliRunner().invoke(app, ["check", "gaudi-open", "-k", "v5.16", "--json"]).output)
    steps = data["counterexample"]["steps"]
    assert all(step["state"] is not None for step in steps)
    pins = steps[-1]["state"]["pins"]
    assert pins and all(text.startswith("pin by device") for text in pins.values())
