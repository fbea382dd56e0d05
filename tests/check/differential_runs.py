"""The runs the compiled and the interpreted checker must agree on, as JSON: imported by
tests/check/test_differential.py in its own (compiled) process and run as a script
under COWLAB_PURE=1 in a second one.

    COWLAB_PURE=1 python tests/check/differential_runs.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cowlab.check.result import Limits
from cowlab.check.runner import run_check
from cowlab.history import kernel_at
from cowlab.scenario import load_check_config
from cowlab.scenario.catalog import builtin_config_names, load_named_config

CONFIGS = Path(__file__).parent / "configs"
#: either side of the commits the built-in configurations are about
KERNELS = ("v5.8", "v5.16", "v5.17", "v6.2")
#: seeded random walks over every kind of action (bounded by states, so deterministic)
WALKS = (("stress.yaml", "v5.12", 1), ("stress.yaml", "v5.10.262", 2), ("stress-thp.yaml", "v5.18", 3))
WALK_STATES = 20_000


def _summary(run: Any) -> dict[str, Any]:
    r = run.result
    return {
        "outcome": r.outcome,
        "distinct": r.stats.distinct,
        "transitions": r.stats.transitions,
        "max_depth": r.stats.max_depth,
        "trace": [list(t) for t in r.trace],
        "violations": [v.invariant for v in r.violations],
    }


def runs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in builtin_config_names():
        for kernel in KERNELS:
            run = run_check(load_named_config(name), kernel_at(kernel), limits=Limits(max_states=20_000))
            out[f"{name} {kernel} bfs"] = _summary(run)
    run = run_check(
        load_named_config("gaudi-open"),
        kernel_at("v5.16"),
        strategy="dfs",
        reduce=False,
        limits=Limits(max_states=20_000),
    )
    out["gaudi-open v5.16 dfs unreduced"] = _summary(run)
    for config, kernel, seed in WALKS:
        run = run_check(
            load_check_config(CONFIGS / config),
            kernel_at(kernel),
            strategy="random",
            seed=seed,
            limits=Limits(max_states=WALK_STATES),
        )
        out[f"{config} {kernel} random {seed}"] = _summary(run)
    return out


if __name__ == "__main__":
    print(json.dumps(runs()))
