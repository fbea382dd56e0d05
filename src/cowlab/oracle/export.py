"""export_c: a scenario as a self-contained C program (kselftest style, TAP output)
that performs its process-level actions with real system calls."""

from __future__ import annotations

from cowlab.oracle.program import ExportError
from cowlab.oracle.render import render
from cowlab.oracle.translate import translate
from cowlab.scenario.spec import Scenario

__all__ = ["ExportError", "approximations", "export_c"]


def export_c(scenario: Scenario, *, instrumented: bool = False, reached: frozenset[int] | None = None) -> str:
    """The C source of the scenario's oracle program (see docs/oracle.md);
    ``instrumented``: for a kernel built with cowlab's stops, where ``until:`` holds a
    thread in the kernel and ``resume`` releases it.

    Raises ExportError naming every step that has no userspace equivalent, one
    ``steps[i] ACTOR ACTION: reason`` line each.
    """
    return render(translate(scenario, instrumented=instrumented, reached=reached))


def approximations(
    scenario: Scenario, *, instrumented: bool = False, reached: frozenset[int] | None = None
) -> tuple[str, ...]:
    """Where the exported program only approximates the scenario (also in the C
    header and printed as ``# approx:`` lines before the tests)."""
    return tuple(translate(scenario, instrumented=instrumented, reached=reached).approximations)
