"""Slow: scenarios that stop a thread inside the kernel, exported for an instrumented
kernel and run on the 5.10 stops builds (issue 15).

``pytest -m slow tests/oracle/test_instrumented_vm.py``.  The 5.10 builds are made the
first time (about 8 minutes each on two cores, then cached).  The verdicts are the
model's, and they are asserted because the stops make the interleaving deterministic:
Gaudi's (T1 held with the page unmapped for migration while T2's scan downgrades its
migration entry) breaks with the 80d47f5de5e3 backport reverted and holds without it;
the checker's pin-after-scan shape breaks on 5.10.262 as shipped."""

from __future__ import annotations

import pytest

from cowlab.oracle import kbuild, run_on_kernels
from cowlab.oracle.fetch import RegistryUnreachable
from cowlab.oracle.race import WORKLOAD_DIR
from cowlab.scenario.catalog import load_builtin
from cowlab.scenario.loader import load_scenario_file

from .vmkit import needs_vm

pytestmark = [pytest.mark.slow, needs_vm]


def built_or_skip(name: str) -> kbuild.BuiltKernel:
    try:
        return kbuild.build_kernel(name)
    except RegistryUnreachable as e:
        pytest.skip(f"linux-source-5.10 is not cached and no Debian registry answered: {e}")


def test_gaudi_and_pin_after_scan_on_the_5_10_stops_builds() -> None:
    stock, revert = built_or_skip("5.10-stops"), built_or_skip("5.10-stops-revert")
    scenarios = [load_builtin("gaudi"), load_scenario_file(WORKLOAD_DIR / "gaudi-pin-after-scan.yaml")]
    cells = run_on_kernels(scenarios, ["built:5.10-stops", "built:5.10-stops-revert"], instrumented=True)
    got = {(c.scenario, c.kernel): (c.model, c.real, c.agree) for c in cells}
    assert got == {
        ("gaudi", "built:5.10-stops"): ("holds", "pass", True),
        ("gaudi-pin-after-scan", "built:5.10-stops"): ("broken", "fail", True),
        ("gaudi", "built:5.10-stops-revert"): ("broken", "fail", True),
        ("gaudi-pin-after-scan", "built:5.10-stops-revert"): ("broken", "fail", True),
    }, [c.note for c in cells]
    assert {c.release for c in cells} == {stock.release, revert.release}
    assert {c.model_kernel for c in cells} == {"v5.10.262", "v5.10.262 --revert 80d47f5de5e3"}
