"""cowlab: an executable model of Linux anonymous memory (COW, GUP pins, fork, NUMA
balancing, migration, swap) across kernel history.

Typical use::

    import cowlab
    result = cowlab.run_scenario(cowlab.load_builtin("gaudi"), cowlab.kernel_at("v5.16"))
    result.violations  # [(9, Violation("pin_coherence", ...)), ...]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# first: importing cowlab.check installs the hook that routes the compiled modules to
# their source when asked (COWLAB_PURE=1) or when an extension is stale
import cowlab.check  # noqa: F401

#: the public API, by the module that defines it: imported on first use, so that the
#: command line starts (and a Ctrl-C during start-up is one line: cowlab._entry)
#: before the model, pydantic and rich are loaded
_API = {
    "cowlab.engine": ("Replay", "RunResult", "StepRecord", "run_scenario"),
    "cowlab.history": (
        "RELEASES",
        "RULE_NAMES",
        "TIMELINE",
        "Commit",
        "Kernel",
        "UnknownKernelError",
        "build_kernel",
        "find_commit",
        "kernel_at",
    ),
    "cowlab.invariants": ("PROMISES", "Violation", "check_sanity"),
    "cowlab.model": (
        "Machine",
        "MigrationEntry",
        "Page",
        "PresentPte",
        "Process",
        "SwapEntry",
        "Thread",
        "Vma",
        "pte_view",
        "to_pte_t",
    ),
    "cowlab.scenario": (
        "Scenario",
        "ScenarioBuilder",
        "ScenarioError",
        "load_scenario",
        "load_scenario_file",
    ),
    "cowlab.scenario.catalog": ("builtin_names", "load_builtin", "load_named"),
}
_HOME = {name: module for module, names in _API.items() for name in names}

if TYPE_CHECKING:
    from cowlab.engine import Replay, RunResult, StepRecord, run_scenario
    from cowlab.history import (
        RELEASES,
        RULE_NAMES,
        TIMELINE,
        Commit,
        Kernel,
        UnknownKernelError,
        build_kernel,
        find_commit,
        kernel_at,
    )
    from cowlab.invariants import PROMISES, Violation, check_sanity
    from cowlab.model import (
        Machine,
        MigrationEntry,
        Page,
        PresentPte,
        Process,
        SwapEntry,
        Thread,
        Vma,
        pte_view,
        to_pte_t,
    )
    from cowlab.scenario import (
        Scenario,
        ScenarioBuilder,
        ScenarioError,
        load_scenario,
        load_scenario_file,
    )
    from cowlab.scenario.catalog import builtin_names, load_builtin, load_named


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'cowlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__version__ = "0.1.0"

__all__ = [
    "PROMISES",
    "RELEASES",
    "RULE_NAMES",
    "TIMELINE",
    "Commit",
    "Kernel",
    "Machine",
    "MigrationEntry",
    "Page",
    "PresentPte",
    "Process",
    "Replay",
    "RunResult",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioError",
    "StepRecord",
    "SwapEntry",
    "Thread",
    "UnknownKernelError",
    "Violation",
    "Vma",
    "build_kernel",
    "builtin_names",
    "check_sanity",
    "find_commit",
    "kernel_at",
    "load_builtin",
    "load_named",
    "load_scenario",
    "load_scenario_file",
    "pte_view",
    "run_scenario",
    "to_pte_t",
]
