"""A thread told to stop at a stage its kernel never reaches finishes its step; the
resumes that follow are no-ops, even a chain of them as the checker emits them
(``cowlab check --emit-scenario``), so one trace replays on every kernel."""

from __future__ import annotations

import pytest

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.model.events import Note
from cowlab.scenario import ScenarioError
from cowlab.scenario.loader import load_scenario

STEPS = (
    "name: replay\nmachine: {nodes: 2, numa_balancing: true}\n"
    "processes:\n- name: P\n  threads:\n  - {name: T1, node: 0}\n  - {name: T2, node: 0}\n"
    "steps:\n- T1: {mmap: buf}\n- T1: {write: buf}\n- kernel: {move: T1, node: 1}\n"
    "- {kernel: lru_drain}\n- {T1: numa_scan}\n"
    "- T1: {pin: buf, as: dma, flags: [FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM], fast: true}\n"
    "- T1: {write: buf, until: migrate.unmapped}\n- {T2: numa_scan}\n"
    "- T1: {resume: true, until: migrate.isolated}\n"
    "- T1: {resume: true, until: access, nth: 2}\n"
)


def notes(kernel: str) -> list[str]:
    result = run_scenario(load_scenario(STEPS, source="replay.yaml"), kernel_at(kernel))
    return [
        e.text for r in result.steps for e in r.events if isinstance(e, Note) and e.fn in ("stop", "resume")
    ]


def test_on_a_kernel_that_never_stops_every_resume_is_a_no_op() -> None:
    """v6.12.117: the pinned exclusive page is never unmapped for migration."""
    assert notes("v6.12.117") == [
        "T1 finished without reaching migrate.unmapped on this kernel",
        "T1 never stopped at migrate.unmapped on this kernel: nothing to resume",
        "T1 never stopped at migrate.isolated on this kernel: nothing to resume",
    ]


def test_a_resume_with_nothing_before_it_is_still_an_error() -> None:
    text = STEPS.replace("- T1: {write: buf, until: migrate.unmapped}\n", "- T1: {write: buf}\n")
    with pytest.raises(ScenarioError, match="T1 is not stopped: nothing to resume"):
        run_scenario(load_scenario(text, source="replay.yaml"), kernel_at("v6.12.117"))
