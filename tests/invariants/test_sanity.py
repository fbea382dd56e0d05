"""The model's own consistency check notices a refcount or mapping with no owner."""

from __future__ import annotations

from cowlab.invariants import check_sanity
from cowlab.model import state as S
from tests.conftest import run_builtin


def test_consistent_states_pass() -> None:
    for kernel in ("v5.8", "v5.16", "v6.2"):
        assert check_sanity(run_builtin("gaudi", kernel).machine) == []


def test_unowned_reference_is_reported() -> None:
    broken = run_builtin("gaudi", "v5.17").machine.copy()
    S.page_ref_add(broken, 1, 1)
    assert any("refcount" in p for p in check_sanity(broken))


def test_freed_page_still_mapped_is_reported() -> None:
    broken = run_builtin("gaudi", "v5.17").machine.copy()
    S.free_pfn(broken, 1)
    assert any("freed pfn 1" in p for p in check_sanity(broken))
