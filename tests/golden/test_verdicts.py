"""The golden verdicts (tests/golden/verdicts.json, written by tools/golden_verdicts.py
before the compact-state rewrite) must stay what they are: every difference is a bug
fixed and explained, or a bug introduced."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "verdicts.json").read_text())

_spec = importlib.util.spec_from_file_location("golden_verdicts", ROOT / "tools" / "golden_verdicts.py")
assert _spec is not None and _spec.loader is not None
golden_verdicts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden_verdicts)

#: the quick slice: kernels either side of the commits the catalog is about
QUICK_KERNELS = ("19be0eaffa3a", "09854ba94c6a", "80d47f5de5e3", "6c287605fd56", "v5.10.262", "v6.12.117")


def test_kernel_list_is_unchanged() -> None:
    assert golden_verdicts.kernels() == GOLDEN["kernels"]


def test_scenario_verdicts_on_quick_kernels() -> None:
    now = golden_verdicts.scenario_verdicts(list(QUICK_KERNELS))
    want = {name: {k: row[k] for k in QUICK_KERNELS} for name, row in GOLDEN["scenarios"].items()}
    assert now == want


@pytest.mark.parametrize(
    "config",
    ["gaudi-open", "rdma-fork-open", "vmsplice-child-open", "dirty-cow-open", "rdma-fork-gup-fast-open"],
)
def test_check_results_on_quick_kernels(config: str) -> None:
    row = GOLDEN["checks"][f"{config} reduced"]
    for k in QUICK_KERNELS:
        assert golden_verdicts.check_result(config, k, reduce=True, max_states=1_000_000) == row[k], k


@pytest.mark.slow
def test_every_golden_verdict() -> None:
    assert golden_verdicts.compare(GOLDEN, golden_verdicts.collect()) == []
