"""Transparent huge pages: each THP rule on both sides of its commit, and the PMD
mechanics (split, zap, fork, folio split, mremap) observed through what the processes
reach and read."""

from __future__ import annotations

from cowlab.invariants import check_sanity, resolve
from cowlab.model import PresentPte, SwapEntry, pte_view
from tests.conftest import broken, decisions, run_builtin, run_text, scenario_text

BASE = 0x100  # the first region of a process starts here (PMD-aligned)


def reach(result, process: str, vpn: int) -> int | None:
    m = result.machine
    return resolve(m, m.process_named(process).pid, vpn)


def pte(result, process: str, vpn: int):
    m = result.machine
    return pte_view(m.process_named(process).pte(vpn))


FORK_THEN_WRITE = """
    - T1: {mmap: mem, pages: 4, thp: true}
    - T1: {write: mem}
    - T1: {fork: C}
    - T1: {write: mem}
"""


def test_pmd_write_fault_copies_the_whole_huge_page_before_3917c80280c9() -> None:
    """Up to v5.7 a write to a shared PMD copies all subpages into a new THP; from
    3917c80280c9 the PMD is split and only the written subpage is copied."""
    before = run_text(scenario_text(FORK_THEN_WRITE), "v5.8", ("3917c80280c9",))
    after = run_text(scenario_text(FORK_THEN_WRITE), "v5.8")
    for result in (before, after):
        assert broken(result) == []
        assert reach(result, "P", BASE) != reach(result, "C", BASE)
    assert reach(before, "P", BASE + 3) != reach(before, "C", BASE + 3)
    assert reach(after, "P", BASE + 3) == reach(after, "C", BASE + 3)
    assert pte(before, "P", BASE + 3).pmd and not pte(after, "P", BASE + 3).pmd


def test_pmd_reuse_tests_the_refcount_from_3bff7e3f1f16() -> None:
    """The THP instance of CVE-2020-29374: reuse_swap_page() ignores the pipe's
    reference and the child reads the parent's write through it."""
    assert broken(run_builtin("vmsplice-child-thp", "v5.18", ("3bff7e3f1f16",))) == ["fork_isolation"]
    assert broken(run_builtin("vmsplice-child-thp", "v5.18")) == []


def test_fork_splits_a_pinned_pmd_from_d042035eaf5f() -> None:
    before = run_builtin("cow-iouring-fork-thp", "v5.9", ("d042035eaf5f",))
    after = run_builtin("cow-iouring-fork-thp", "v5.9")
    assert broken(before) == ["pin_coherence"]
    assert broken(after) == []
    # the child got its own copy of every subpage; the parent kept the pinned THP
    assert all(reach(after, "P", BASE + i) != reach(after, "C", BASE + i) for i in range(4))


def test_forced_write_to_a_read_only_thp_never_returns_before_8310d48b125d() -> None:
    assert broken(run_builtin("huge-dirty-cow", "v4.10", ("8310d48b125d",))) == ["progress"]
    assert broken(run_builtin("huge-dirty-cow", "v4.10")) == ["file_isolation", "fork_isolation"]


def test_touch_pmd_dirties_only_for_writes_from_a8f97366452e() -> None:
    """Huge Dirty COW: a read GUP made the huge zero page's PMD dirty, which FOLL_COW
    took for proof of a COW; the forced write landed in the huge zero page."""
    before = run_builtin("huge-dirty-cow", "v4.15", ("a8f97366452e",))
    assert broken(before) == ["file_isolation", "fork_isolation"]
    m = before.machine
    assert any(p is not None and p.huge_zero and p.content for p in m.pages)
    assert broken(run_builtin("huge-dirty-cow", "v4.15")) == []


def test_pmd_split_moves_the_counts_to_the_subpages() -> None:
    text = scenario_text("""
        - T1: {mmap: mem, pages: 4, thp: true}
        - T1: {write: mem}
        - T1: {mprotect: mem, prot: r, first: 1, count: 1}
    """)
    result = run_text(text, "v6.1")
    m = result.machine
    ptes = [pte(result, "P", BASE + i) for i in range(4)]
    assert all(type(p) is PresentPte and not p.pmd for p in ptes)
    assert [p.write for p in ptes] == [True, False, True, True]
    head = m.page(ptes[0].pfn)
    assert head.refcount == 4 and head.compound_mapcount == 0
    assert all(m.page(p.pfn).mapcount == 1 and m.page(p.pfn).head == ptes[0].pfn for p in ptes)
    assert check_sanity(m) == []


def test_a_page_table_left_by_a_split_gets_no_new_thp() -> None:
    """After a split the range holds a page table: zapping every PTE leaves it, so the
    next fault maps a small page (pmd_none is false); a zapped PMD leaves nothing."""
    split = run_text(
        scenario_text("""
        - T1: {mmap: mem, pages: 4, thp: true}
        - T1: {write: mem}
        - T1: {mprotect: mem, prot: r, first: 1, count: 1}
        - T1: {madvise: mem, advice: dontneed}
        - T1: {write: mem}
    """),
        "v6.1",
    )
    whole = run_text(
        scenario_text("""
        - T1: {mmap: mem, pages: 4, thp: true}
        - T1: {write: mem}
        - T1: {madvise: mem, advice: dontneed}
        - T1: {write: mem}
    """),
        "v6.1",
    )
    assert not pte(split, "P", BASE).pmd and pte(split, "P", BASE + 1) is None
    assert pte(whole, "P", BASE).pmd and pte(whole, "P", BASE + 1).pmd


def test_reclaim_splits_a_thp_unless_something_holds_it() -> None:
    """split_huge_page() needs the mappings to hold every reference: a vmsplice
    reference keeps the THP whole and out of swap."""
    free = run_text(
        scenario_text("""
        - T1: {mmap: mem, pages: 4, thp: true}
        - T1: {write: mem}
        - T1: {madvise: mem, advice: pageout}
        - T1: {read: mem}
    """),
        "v6.1",
    )
    held = run_text(
        scenario_text("""
        - T1: {mmap: mem, pages: 4, thp: true}
        - T1: {write: mem}
        - T1: {vmsplice: mem, as: pipe}
        - T1: {madvise: mem, advice: pageout}
    """),
        "v6.1",
    )
    assert broken(free) == []
    assert type(pte(free, "P", BASE + 1)) is SwapEntry
    assert type(pte(free, "P", BASE)) is PresentPte and not pte(free, "P", BASE).pmd
    assert all(type(pte(held, "P", BASE + i)) is PresentPte for i in range(4))
    assert pte(held, "P", BASE).pmd


def test_mremap_moves_half_a_thp_with_its_data() -> None:
    text = scenario_text("""
        - T1: {mmap: mem, pages: 4, thp: true}
        - T1: {write: "mem[3]"}
        - T1: {mremap: mem, to: moved, first: 2, count: 2}
        - T1: {read: "moved[1]"}
        - T1: {read: "mem[1]"}
    """)
    result = run_text(text, "v6.1")
    assert broken(result) == []
    m = result.machine
    proc = m.process_named("P")
    moved = proc.vma_named("moved")
    assert moved is not None and moved.npages == 2
    head = pte(result, "P", BASE).pfn
    moved_pte = pte_view(proc.pte(moved.start + 1))
    assert type(moved_pte) is PresentPte and m.page(moved_pte.pfn).head == head
    assert check_sanity(m) == []


def test_ro_pin_unshares_a_shared_pmd_by_splitting_from_a7f226604170() -> None:
    """A R/O pin of a shared PMD-mapped THP: from v5.19 the unshare fault splits the PMD
    and copies only the pinned subpage, which the parent's later write then reuses."""
    assert broken(run_builtin("cow-ro-pin-shared-thp", "v5.19", ("a7f226604170",))) == ["ro_pin_coherence"]
    result = run_builtin("cow-ro-pin-shared-thp", "v5.19")
    assert broken(result) == []
    assert reach(result, "P", BASE) != reach(result, "C", BASE)
    assert reach(result, "P", BASE + 1) == reach(result, "C", BASE + 1)


COLLAPSE_SHARED = """
    - T1: {mmap: mem, pages: 4, thp: true}
    - T1: {write: mem}
    - T1: {mprotect: mem, prot: r, first: 1, count: 1}
    - T1: {mprotect: mem, prot: rw, first: 1, count: 1}
    - T1: {fork: C}
    - C: {read: mem}
    - T1: {madvise: mem, advice: collapse}
    - T1: {write: mem}
    - C: {read: mem}
"""


def test_madv_collapse_of_a_fully_shared_thp_needs_62b98015d988() -> None:
    """cow.c "Basic COW after fork() when collapsing after fork() (fully shared)": fork
    write-protected every PTE, so up to v6.17 the collapse is refused (SCAN_PAGE_RO,
    EINVAL; cow.c SKIPs on 6.12); from 62b98015d988 (v6.18) the parent's collapse copies
    into a new exclusive THP, and the child keeps the old pages either way."""
    before = run_text(scenario_text(COLLAPSE_SHARED), "v6.18", ("62b98015d988",))
    after = run_text(scenario_text(COLLAPSE_SHARED), "v6.18")
    assert broken(before) == [] and broken(after) == []
    assert not pte(before, "P", BASE).pmd
    assert any("madvise_collapse" in d and "SCAN_PAGE_RO" in d for d in decisions(before))
    assert pte(after, "P", BASE).pmd and not pte(after, "C", BASE).pmd
    assert reach(after, "P", BASE + 2) != reach(after, "C", BASE + 2)
    assert check_sanity(after.machine) == []


def test_madv_collapse_of_a_partly_writable_thp_from_7d8faaf15545() -> None:
    """One writable PTE is enough before 62b98015d988: the parent writes a subpage (a
    COW copy, writable) and then collapses, copying the range into a new THP."""
    text = scenario_text(
        COLLAPSE_SHARED.replace("    - T1: {madvise", '    - T1: {write: "mem[3]"}\n    - T1: {madvise')
    )
    before = run_text(text, "v6.1", ("7d8faaf15545",))
    after = run_text(text, "v6.1")
    assert broken(before) == [] and broken(after) == []
    assert not pte(before, "P", BASE).pmd
    assert pte(after, "P", BASE).pmd and not pte(after, "C", BASE).pmd
    assert check_sanity(after.machine) == []


def test_madv_collapse_refuses_a_pinned_page() -> None:
    text = scenario_text("""
        - T1: {mmap: mem, pages: 4, thp: true}
        - T1: {write: mem}
        - T1: {mprotect: mem, prot: r, first: 1, count: 1}
        - T1: {pin: "mem[2]", as: dma}
        - T1: {madvise: mem, advice: collapse}
    """)
    result = run_text(text, "v6.1")
    assert broken(result) == [] and not pte(result, "P", BASE).pmd
