"""A pytest plugin for users' own test suites: scenario files that say what they expect
on each kernel become tests.

A YAML scenario whose name starts with ``test_`` (``test_pin_after_fork.yaml``) and that
has an ``expect:`` map is collected; each kernel in the map is one test item, which
replays the scenario on that kernel and compares the outcome with the expectation:
``holds`` (every promise held), ``broken`` (some promise broke) or the name of the
promise that must break (``pin_coherence``).  A failing item's message is the trace,
each decision with its rule and commit, as ``cowlab run`` prints it.

The plugin is registered under the ``pytest11`` entry point, so installing cowlab is
enough; ``-p no:cowlab`` turns it off.

    expect:
      v5.16: pin_coherence
      v5.17: holds
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowlab.engine import RunResult, run_scenario
from cowlab.history import kernel_at
from cowlab.scenario import Scenario, ScenarioError, load_scenario_file


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("test_"):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: an item per kernel of its ``expect:`` map."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario = load_scenario_file(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for kernel, want in scenario.expect:
            yield ScenarioItem.from_parent(self, name=kernel, scenario=scenario, kernel=kernel, want=want)


class ScenarioItem(pytest.Item):
    """The scenario on one kernel, against what it expects there."""

    def __init__(self, *, scenario: Scenario, kernel: str, want: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario, self.kernel, self.want = scenario, kernel, want

    def runtest(self) -> None:
        result = run_scenario(self.scenario, kernel_at(self.kernel))
        if not as_expected(result, self.want):
            raise ExpectationFailed(result, self.want)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExpectationFailed):
            return excinfo.value.report()
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.scenario.name} on {self.kernel}: expect {self.want}"


def as_expected(result: RunResult, want: str) -> bool:
    if want == "holds":
        return result.holds
    if want == "broken":
        return not result.holds
    return want in result.broken


class ExpectationFailed(Exception):
    """The scenario did not do on its kernel what its ``expect:`` says."""

    def __init__(self, result: RunResult, want: str) -> None:
        super().__init__(want)
        self.result, self.want = result, want

    def report(self) -> str:
        from io import StringIO

        from rich.console import Console

        from cowlab.report import print_run

        got = "holds" if self.result.holds else "broken: " + ", ".join(self.result.broken)
        out = StringIO()
        print_run(self.result, Console(file=out, width=120, color_system=None, emoji=False))
        return (
            f"{self.result.scenario.name} on {self.result.kernel.name}: expected "
            f"{self.want}, got {got}\n{out.getvalue()}"
        )
