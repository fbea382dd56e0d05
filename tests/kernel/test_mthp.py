"""Multi-size THP for anonymous memory: the fault that maps a large folio by PTEs
(19eaf44954df) and the three eras of its COW reuse in do_wp_page (refcount;
never, cd197c3a2040; this mm alone, 1da190f4d0a6), each on both sides of its commit."""

from __future__ import annotations

import pytest

from cowlab.invariants import resolve
from cowlab.model import PresentPte, pte_view
from cowlab.scenario import ScenarioError
from tests.conftest import broken, run_text, scenario_text

BASE = 0x100  # the first region of a process starts here (PMD-aligned)


def reach(result, vpn: int = BASE) -> int | None:
    m = result.machine
    return resolve(m, m.process_named("P").pid, vpn)


FAULT = """
    - T1: {mmap: buf, pages: 4, mthp: true}
    - T1: {write: buf}
"""


def test_a_write_fault_maps_a_large_folio_by_ptes_from_19eaf44954df() -> None:
    after = run_text(scenario_text(FAULT), "v6.8")
    before = run_text(scenario_text(FAULT), "v6.8", ("19eaf44954df",))
    m = after.machine
    first, second = reach(after), reach(after, BASE + 1)
    assert first is not None and second is not None
    assert m.page(first).head == m.page(second).head == first  # one folio, head first
    for vpn in (BASE, BASE + 1):
        view = pte_view(m.process_named("P").pte(vpn))
        assert type(view) is PresentPte and view.write and not view.pmd
    assert pte_view(m.process_named("P").pte(BASE + 2)) is None  # the next folio's range
    assert reach(before, BASE + 1) is None  # a small page: the neighbour stays unmapped


AFTER_FORK = """
    - T1: {mmap: buf, pages: 4, mthp: true}
    - T1: {write: buf}
    - T1: {fork: C}
    - C: exit
"""


@pytest.mark.parametrize(
    ("kernel", "reused"), [("v6.8", False), ("v6.9", False), ("v6.12", False), ("v6.15", True)]
)
def test_cow_reuse_of_a_large_folio_both_pages_mapped(kernel: str, reused: bool) -> None:
    """After the child is gone the parent maps both subpages read-only and alone: the
    refcount is 2 (one per PTE), so only the owner-based rule of v6.15 reuses."""
    result = run_text(scenario_text(AFTER_FORK + "    - T1: {write: buf}\n"), kernel)
    assert broken(result) == []
    assert (reach(result) == 1) == reused


@pytest.mark.parametrize(
    ("kernel", "reused"), [("v6.8", True), ("v6.9", False), ("v6.14", False), ("v6.15", True)]
)
def test_cow_reuse_of_a_large_folio_last_page_mapped(kernel: str, reused: bool) -> None:
    """With the other subpage unmapped the refcount is 1: v6.8 reuses (the issue
    cd197c3a2040 fixed: the whole folio kept for one page), v6.9-v6.14 copy, v6.15
    reuses again because this mm alone maps it."""
    steps = AFTER_FORK + "    - T1: {munmap: buf, first: 1, count: 1}\n    - T1: {write: buf}\n"
    result = run_text(scenario_text(steps), kernel)
    assert broken(result) == []
    assert (reach(result) == 1) == reused


def test_a_large_folio_shared_with_a_child_is_copied_on_v6_15() -> None:
    """The owner rule reuses only what this mm alone maps: with the child alive the
    parent's write copies and the child keeps the old data."""
    steps = """
        - T1: {mmap: buf, pages: 4, mthp: true}
        - T1: {write: buf}
        - T1: {fork: C}
        - T1: {write: buf}
        - C: {read: buf}
    """
    result = run_text(scenario_text(steps), "v6.15")
    assert broken(result) == []
    assert reach(result) != 1


def test_a_region_has_one_thp_size() -> None:
    with pytest.raises(ScenarioError, match="mthp"):
        run_text(scenario_text("- T1: {mmap: buf, pages: 4, thp: true, mthp: true}"), "v6.8")
