"""Every built-in scenario on the kernels its description names."""

from __future__ import annotations

import pytest

from cowlab.scenario.catalog import builtin_names
from tests.conftest import broken, run_builtin

HOLDS: list[str] = []

CASES: list[tuple[str, str, list[str]]] = [
    # the seed corruption: pin coherence breaks first, then the CPU misses the DMA write
    *[("gaudi", k, ["pin_coherence", "no_lost_write"]) for k in ("v5.9", "v5.11", "v5.16")],
    *[("gaudi", k, HOLDS) for k in ("v5.8", "v5.17", "v5.19", "v6.2")],
    *[
        (name, k, HOLDS)
        for name in ("gaudi-no-numa-balancing", "gaudi-affinity")
        for k in ("v5.8", "v5.9", "v5.11", "v5.16", "v5.17", "v5.19", "v6.2", "v6.12")
    ],
    *[("iouring-mprotect", k, ["pin_coherence"]) for k in ("v5.9", "v5.10", "v5.16", "v5.18")],
    *[("iouring-mprotect", k, HOLDS) for k in ("v5.8", "v5.19", "v6.0", "v6.12")],
    *[("vmsplice-child", k, ["fork_isolation"]) for k in ("v4.9", "v5.4", "v5.7")],
    *[("vmsplice-child", k, HOLDS) for k in ("v5.8", "v5.9", "v5.19", "v6.12")],
    *[
        ("rdma-fork", k, ["pin_coherence", "no_lost_write", "fork_isolation"])
        for k in ("v4.9", "v5.5", "v5.8")
    ],
    *[("rdma-fork", k, HOLDS) for k in ("v5.9", "v5.16", "v6.12")],
    *[("iouring-swap", k, ["pin_coherence"]) for k in ("v5.9", "v5.10")],
    *[("iouring-swap", k, HOLDS) for k in ("v5.8", "v5.11", "v6.2")],
    *[("vmsplice-child-swap", k, ["fork_isolation"]) for k in ("v5.7", "v5.9", "v5.17")],
    *[("vmsplice-child-swap", k, HOLDS) for k in ("v5.8", "v5.18", "v6.2")],
    *[("ro-pin-after-fork", k, ["ro_pin_coherence"]) for k in ("v5.7", "v5.9", "v5.18")],
    *[("ro-pin-after-fork", k, HOLDS) for k in ("v5.8", "v5.19", "v6.2")],
]


@pytest.mark.parametrize(("name", "kernel", "expected"), CASES)
def test_builtin_verdicts(name: str, kernel: str, expected: list[str]) -> None:
    assert broken(run_builtin(name, kernel)) == expected


def test_gaudi_breaks_where_do_wp_page_copies() -> None:
    result = run_builtin("gaudi", "v5.16")
    index, violation = result.violations[0]
    record = result.steps[index]
    assert violation.invariant == "pin_coherence"
    assert type(record.step.action).__name__ == "Write"
    assert any(
        "do_wp_page: refcount 1025 != 1 -> copy" in str(e) and "(09854ba94c6a)" in str(e)
        for e in record.events
    )


def test_gaudi_holds_with_the_simplification_reverted() -> None:
    assert broken(run_builtin("gaudi", "v5.16", ("09854ba94c6a",))) == []


def test_gaudi_device_and_cpu_disagree_on_v5_16() -> None:
    """What the process read after the device wrote is not what the device wrote."""
    from cowlab.model.events import DeviceStore, Load

    result = run_builtin("gaudi", "v5.16")
    dma = [e.token for r in result.steps for e in r.events if type(e) is DeviceStore]
    loads = [e.token for r in result.steps for e in r.events if type(e) is Load]
    assert dma and loads[-1] != dma[-1]
    result = run_builtin("gaudi", "v5.17")
    dma = [e.token for r in result.steps for e in r.events if type(e) is DeviceStore]
    loads = [e.token for r in result.steps for e in r.events if type(e) is Load]
    assert loads[-1] == dma[-1]


@pytest.mark.parametrize("name", builtin_names())
@pytest.mark.parametrize("kernel", ["v4.9", "v5.8", "v5.12", "v5.16", "v5.18", "v6.2", "v6.12"])
def test_no_model_bug_anywhere(name: str, kernel: str) -> None:
    result = run_builtin(name, kernel)
    assert "model_sanity" not in broken(result)


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("v4.8", ["file_isolation"]),
        ("v4.9", []),
        ("v5.8", []),
        ("v5.19", []),
        ("v6.0", []),
    ],
)
def test_dirty_cow(kernel: str, expected: list[str]) -> None:
    """The /proc/self/mem write reaches the file's page cache only before 19be0eaffa3a."""
    result = run_builtin("dirty-cow", kernel)
    assert broken(result) == expected
    m = result.machine
    passwd = m.files[0]
    changed = m.page(passwd.pages[0]).content != passwd.original[0]
    assert changed is bool(expected)
