"""export_c: a scenario as a self-contained C program (kselftest style, TAP output)
that performs its process-level actions with real system calls."""

from __future__ import annotations

from cowlab.oracle.program import ExportError
from cowlab.oracle.render import render
from cowlab.oracle.translate import translate
from cowlab.scenario.spec import Scenario

__all__ = ["ExportError", "export_c"]


def export_c(scenario: Scenario) -> str:
    """The C source of the scenario's oracle program.

    Raises ExportError naming every step that has no userspace equivalent
    (``steps[i] ACTOR ACTION: reason``).
    """
    return render(translate(scenario))
