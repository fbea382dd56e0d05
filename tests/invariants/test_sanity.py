"""The model's own consistency check notices a refcount or mapping with no owner."""

from __future__ import annotations

from cowlab.invariants import check_sanity
from tests.conftest import run_builtin


def test_consistent_states_pass() -> None:
    for kernel in ("v5.8", "v5.16", "v6.2"):
        assert check_sanity(run_builtin("gaudi", kernel).machine) == []


def test_unowned_reference_is_reported() -> None:
    m = run_builtin("gaudi", "v5.17").machine
    page = m.page(1)
    broken = m.with_page(1, page._replace(refcount=page.refcount + 1))
    assert any("refcount" in p for p in check_sanity(broken))


def test_freed_page_still_mapped_is_reported() -> None:
    m = run_builtin("gaudi", "v5.17").machine
    assert any("freed pfn 1" in p for p in check_sanity(m.with_page(1, None)))
