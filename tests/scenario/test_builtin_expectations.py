"""Built-in scenarios that state what they do on given kernels (`expect:`, the map the
pytest plugin turns into tests for users' files) do it: a behaviour no mainline commit
explains, such as a stable branch's own bug, is stated there and checked here."""

from __future__ import annotations

import pytest

from cowlab.engine.run import run_scenario
from cowlab.history import kernel_at
from cowlab.pytest_plugin import as_expected
from cowlab.scenario.catalog import builtin_names, load_builtin

CASES = [(name, kernel, want) for name in builtin_names() for kernel, want in load_builtin(name).expect]


def test_some_built_in_scenario_states_expectations() -> None:
    assert any(name == "vfio-zero-page-pin" for name, _, _ in CASES)


@pytest.mark.parametrize(("name", "kernel", "want"), CASES)
def test_a_built_in_scenario_does_what_it_expects(name: str, kernel: str, want: str) -> None:
    result = run_scenario(load_builtin(name), kernel_at(kernel))
    assert as_expected(result, want), (kernel, want, result.broken)
