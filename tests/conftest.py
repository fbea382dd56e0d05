"""Shared helpers: build small scenarios from YAML step lists and run them."""

from __future__ import annotations

import textwrap

import pytest

from cowlab.engine import RunResult, run_scenario
from cowlab.history import kernel_at
from cowlab.scenario import load_scenario
from cowlab.scenario.catalog import load_builtin


def scenario_text(
    steps: str, *, threads: str = "{name: T1, node: 0}", nodes: int = 1, numa: bool = False
) -> str:
    """A one-process scenario (process P) with the given thread list and steps."""
    thread_lines = "\n".join(f"      - {t.strip()}" for t in threads.split(";"))
    return (
        f"name: t\nmachine: {{nodes: {nodes}, numa_balancing: {str(numa).lower()}}}\n"
        f"processes:\n  - name: P\n    threads:\n{thread_lines}\n"
        f"steps:\n{textwrap.indent(textwrap.dedent(steps).strip(), '  ')}\n"
    )


def run_text(text: str, kernel: str, revert: tuple[str, ...] = ()) -> RunResult:
    return run_scenario(load_scenario(text, source="<test>"), kernel_at(kernel, revert))


def run_builtin(name: str, kernel: str, revert: tuple[str, ...] = ()) -> RunResult:
    return run_scenario(load_builtin(name), kernel_at(kernel, revert))


def broken(result: RunResult) -> list[str]:
    """The invariants broken, in order of first breach."""
    return result.broken


def loads(result: RunResult) -> list[int]:
    """The tokens the run's CPU loads saw, in order."""
    from cowlab.model.events import Load

    return [e.token for r in result.steps for e in r.events if type(e) is Load]


def decisions(result: RunResult) -> list[str]:
    from cowlab.model.events import Decision

    return [str(e) for r in result.steps for e in r.events if type(e) is Decision]


@pytest.fixture
def run() -> object:
    return run_text
