"""The public names are re-exported from cowlab/__init__.py."""

from __future__ import annotations

import cowlab

PUBLIC = [
    "run_scenario",
    "Replay",
    "RunResult",
    "kernel_at",
    "Kernel",
    "TIMELINE",
    "RELEASES",
    "Machine",
    "Page",
    "PresentPte",
    "MigrationEntry",
    "SwapEntry",
    "pte_view",
    "to_pte_t",
    "Vma",
    "Process",
    "Thread",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioError",
    "load_scenario",
    "load_scenario_file",
    "load_builtin",
    "builtin_names",
    "Violation",
    "PROMISES",
    "check_sanity",
    "UnknownKernelError",
]


def test_public_names_are_reexported() -> None:
    missing = [name for name in PUBLIC if not hasattr(cowlab, name)]
    assert missing == []
    assert set(PUBLIC) <= set(cowlab.__all__)


def test_all_names_resolve() -> None:
    for name in cowlab.__all__:
        assert getattr(cowlab, name) is not None
