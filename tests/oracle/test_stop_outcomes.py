"""Where held threads stopped: parsed from a program's output and from the model's
replay, and tabulated model / kernel in the report."""

from __future__ import annotations

from pathlib import Path

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.oracle.report import stops_table
from cowlab.oracle.runner import Cell
from cowlab.oracle.stop_outcomes import kernel_stops, model_stops
from cowlab.scenario.catalog import load_builtin
from cowlab.scenario.loader import load_scenario_file

COUNTEREXAMPLE = Path(__file__).parents[1] / "data" / "gaudi-open-counterexample.yaml"


def test_the_programs_stop_lines() -> None:
    text = (
        "TAP version 13\n# T1 is held at fork.copy_page_range\n"
        "# T2 neither reached gup.follow_page nor returned within 3000 ms (state D, wchan 0): "
        "it waits elsewhere in the kernel\n"
        "ok 1 - pin_coherence: x\n# T1 finished without reaching migrate.unmapped on this kernel\n"
    )
    assert kernel_stops(text) == (
        "T1 at fork.copy_page_range: held",
        "T2 at gup.follow_page: waited elsewhere",
        "T1 at migrate.unmapped: ran on",
    )


def test_the_models_stops_leave_resumes_out() -> None:
    """The counterexample's resumes stop again in the model; the instrumented program
    runs them to completion, so only the first stop is compared."""
    scenario = load_scenario_file(COUNTEREXAMPLE)
    assert model_stops(run_scenario(scenario, kernel_at("v5.10.262"))) == ("T1 at migrate.unmapped: held",)
    assert model_stops(run_scenario(scenario, kernel_at("v6.12.117"))) == ("T1 at migrate.unmapped: ran on",)
    rdma = run_scenario(load_builtin("rdma-fork-gup-fast"), kernel_at("v5.10.262"))
    assert model_stops(rdma) == ("T1 at fork.copy_page_range: held", "T2 at gup.follow_page: held")


def test_the_report_marks_where_they_differ() -> None:
    cell = Cell(
        "rdma-fork-gup-fast",
        "built:5.10-stops",
        "holds",
        None,
        "pass",
        True,
        None,
        model_stops=("T1 at fork.copy_page_range: held", "T2 at gup.follow_page: held"),
        real_stops=("T1 at fork.copy_page_range: held", "T2 at gup.follow_page: waited elsewhere"),
    )
    lines = stops_table([cell])
    assert (
        "| rdma-fork-gup-fast | T1 at fork.copy_page_range: held; "
        "**T2 at gup.follow_page: held / waited elsewhere** |"
    ) in lines
    assert "Stops: 1 alike, 1 different (in bold: model / kernel)." in lines
    assert lines[-1].startswith("- model held, kernel waited elsewhere: the model has no mmap_lock")
    assert lines[-1].endswith("(rdma-fork-gup-fast (T2 at gup.follow_page))")
