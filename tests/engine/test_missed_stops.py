"""A thread told to stop at a stage its kernel never reaches finishes its step; the
resumes that follow are no-ops, even a chain of them as the checker emits them
(``cowlab check --emit-scenario``), so one trace replays on every kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.model.events import Note
from cowlab.scenario import ScenarioError
from cowlab.scenario.loader import load_scenario, load_scenario_file

#: the checker's pin-after-scan trace on v5.10.262 (its header says how it was made)
COUNTEREXAMPLE = Path(__file__).parents[1] / "data" / "gaudi-open-counterexample.yaml"


def stop_notes(kernel: str) -> tuple[list[str], list[str]]:
    """(the stop and resume notes, the promises broken) of the counterexample."""
    result = run_scenario(load_scenario_file(COUNTEREXAMPLE), kernel_at(kernel))
    notes = [
        e.text for r in result.steps for e in r.events if isinstance(e, Note) and e.fn in ("stop", "resume")
    ]
    return notes, result.broken


def test_the_counterexample_breaks_where_it_was_found() -> None:
    notes, broken = stop_notes("v5.10.262")
    assert broken == ["pin_coherence"]
    assert notes[0] == "T1 stopped at migrate.unmapped"


def test_on_a_kernel_that_never_stops_every_resume_is_a_no_op() -> None:
    """v6.12.117: the pin takes the NUMA hinting fault itself, so T1's write never
    migrates; the ten resumes after it each say there is nothing to resume."""
    notes, broken = stop_notes("v6.12.117")
    assert broken == []
    assert notes == [
        "T1 finished without reaching migrate.unmapped on this kernel",
        "T1 never stopped at migrate.unmapped on this kernel: nothing to resume",
        *["T1 never stopped at migrate.isolated on this kernel: nothing to resume"] * 9,
    ]


def test_a_resume_with_nothing_before_it_is_still_an_error() -> None:
    held = "- T1: {write: buf, until: migrate.unmapped}"
    text = COUNTEREXAMPLE.read_text().replace(held, "- T1: {write: buf}")
    with pytest.raises(ScenarioError, match="T1 is not stopped: nothing to resume"):
        run_scenario(load_scenario(text, source="replay.yaml"), kernel_at("v6.12.117"))
