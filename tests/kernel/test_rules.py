"""Each version rule on both sides of the commit that switches it.

"Before" is the release containing the commit with that commit reverted, so the
test isolates the one commit.  Assertions are on what user space or the device
observes, or on the page the process reaches (what /proc/self/pagemap shows).
"""

from __future__ import annotations

from cowlab.invariants import resolve
from cowlab.model import PresentPte, pte_view
from tests.conftest import broken, decisions, run_builtin, run_text, scenario_text

TWO_THREADS = "{name: T1, node: 0}; {name: T2, node: 0}"


def both_sides(name: str, release: str, commit: str) -> tuple[list[str], list[str]]:
    return (broken(run_builtin(name, release, (commit,))), broken(run_builtin(name, release)))


def pfn_at(result, process: str = "P", region_vpn: int = 0x100) -> int | None:
    m = result.machine
    return resolve(m, m.process_named(process).pid, region_vpn)


# --- savedwrite and its replacement -------------------------------------------------


def test_savedwrite_keeps_a_hinted_pinned_page_writable() -> None:
    """b191f9b106ea: without savedwrite the hinting fault maps the pinned page read-only
    and the next write copies it, even with no migration at all."""
    before, after = both_sides("gaudi-affinity", "v5.16", "b191f9b106ea")
    assert before == ["pin_coherence", "no_lost_write"]
    assert after == []


def test_v6_2_recomputes_writability_from_anon_exclusive() -> None:
    """6a56ccbcf6c6 drops savedwrite: the hinted page is writable again only because it
    is PageAnonExclusive; without 6c287605fd56 the Gaudi copy comes back."""
    assert broken(run_builtin("gaudi-affinity", "v6.2", ("80d47f5de5e3",))) == []
    assert broken(run_builtin("gaudi-affinity", "v6.2", ("80d47f5de5e3", "6c287605fd56"))) == [
        "pin_coherence",
        "no_lost_write",
    ]


# --- the NUMA scanner's sharing test --------------------------------------------------


def test_numa_scan_tests_refcount_from_80d47f5de5e3() -> None:
    before, after = both_sides("gaudi", "v5.17", "80d47f5de5e3")
    assert before == ["pin_coherence", "no_lost_write"]
    assert after == []


def test_numa_scan_skips_only_pinned_or_shared_from_d2136d749d76() -> None:
    """A fresh page still in the LRU-add batch has refcount 2: skipped by the refcount
    test (v5.17-v6.9), NUMA-protected from d2136d749d76 (not pinned, mapped once)."""
    text = scenario_text(
        """
        - T1: {mmap: buf}
        - T1: {write: buf}
        - T2: numa_scan
    """,
        threads=TWO_THREADS,
        nodes=2,
        numa=True,
    )
    for revert, protnone in (((), True), (("d2136d749d76",), False)):
        m = run_text(text, "v6.10", revert).machine
        pte = pte_view(m.processes[0].pte(0x100))
        assert type(pte) is PresentPte and pte.protnone is protnone


def test_pinned_exclusive_page_fails_migration_early_from_6c287605fd56() -> None:
    """With 80d47f5de5e3 reverted the scanner protects the pinned page again; v5.19's
    try_to_migrate refuses a pinned exclusive page, so no migration entry is made."""
    result = run_builtin("gaudi", "v5.19", ("80d47f5de5e3",))
    assert broken(result) == []
    assert any("page_try_share_anon_rmap fails" in d for d in decisions(result))
    assert broken(run_builtin("gaudi", "v5.19", ("80d47f5de5e3", "6c287605fd56"))) != []


def test_hinting_fault_keeps_prot_none_while_migrating_from_b99a342d4f11() -> None:
    text = scenario_text(
        """
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - T2: numa_scan
        - kernel: {move: T1, node: 1}
        - T1: {read: buf, until: do_numa_page.target_chosen}
    """,
        threads=TWO_THREADS,
        nodes=2,
        numa=True,
    )
    for revert, protnone in (((), True), (("b99a342d4f11",), False)):
        pte = pte_view(run_text(text, "v5.13", revert).machine.processes[0].pte(0x100))
        assert type(pte) is PresentPte and pte.protnone is protnone
        assert pte.protnone or pte.write  # <= v5.12: present and writable again


def test_unpinned_page_migrates_to_the_faulting_node() -> None:
    text = scenario_text(
        """
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - T2: numa_scan
        - kernel: {move: T1, node: 1}
        - T1: {read: buf}
        - T1: {write: buf}
        - T1: {read: buf}
    """,
        threads=TWO_THREADS,
        nodes=2,
        numa=True,
    )
    for kernel in ("v5.12", "v5.16", "v6.2"):
        result = run_text(text, kernel)
        assert broken(result) == []
        m = result.machine
        assert m.page(pfn_at(result)).node == 1


# --- do_wp_page -----------------------------------------------------------------------


def test_do_wp_page_refcount_rule_from_09854ba94c6a() -> None:
    before, after = both_sides("iouring-mprotect", "v5.9", "09854ba94c6a")
    assert before == []
    assert after == ["pin_coherence"]


def test_do_wp_page_drains_the_lru_batch_from_d4c470970d45() -> None:
    """A fresh page (in the LRU-add batch) made read-only: v5.9-v5.17 copy it on the
    next write (unnecessary COW); d4c470970d45 drains the batch and reuses it."""
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - T1: {mprotect: buf, prot: r}
        - T1: {mprotect: buf, prot: rw}
        - T1: {write: buf}
        - T1: {read: buf}
    """)
    reused = run_text(text, "v5.18")
    copied = run_text(text, "v5.18", ("d4c470970d45",))
    assert broken(reused) == broken(copied) == []
    assert pfn_at(reused) == 1
    assert pfn_at(copied) != 1


def test_do_wp_page_frees_the_swap_cache_from_53a05ad9f21d() -> None:
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - kswapd: {reclaim: "P:buf"}
        - T1: {read: buf}
        - kernel: lru_drain
        - T1: {write: buf}
        - T1: {read: buf}
    """)
    reused = run_text(text, "v5.18")
    copied = run_text(text, "v5.18", ("53a05ad9f21d",))
    assert broken(reused) == broken(copied) == []
    swapped_in = [e for r in reused.steps for e in r.events if "read from swap into" in str(e)]
    assert swapped_in
    new_pfn = int(str(swapped_in[0]).rsplit(" ", 1)[1])
    assert pfn_at(reused) == new_pfn
    assert pfn_at(copied) != new_pfn


def test_anon_exclusive_reuses_pinned_page_from_6c287605fd56() -> None:
    before, after = both_sides("iouring-mprotect", "v5.19", "6c287605fd56")
    assert before == ["pin_coherence"]
    assert after == []


def test_mprotect_maps_exclusive_pages_writable_from_64fe24a3e05e() -> None:
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - T1: {mprotect: buf, prot: r}
        - T1: {mprotect: buf, prot: rw}
    """)
    for revert, writable in (((), True), (("64fe24a3e05e",), False)):
        pte = pte_view(run_text(text, "v6.0", revert).machine.processes[0].pte(0x100))
        assert type(pte) is PresentPte and pte.write is writable


# --- GUP --------------------------------------------------------------------------------


def test_gup_breaks_cow_for_read_references_only_in_v5_8() -> None:
    """17839856fd58 (v5.8) breaks COW when GUP takes a reference; a308c71bf1e6 (v5.9)
    removes it again, relying on 09854ba94c6a."""
    before, after = both_sides("vmsplice-child", "v5.8", "17839856fd58")
    assert before == ["fork_isolation"]
    assert after == []
    assert broken(run_builtin("ro-pin-after-fork", "v5.9")) == ["ro_pin_coherence"]
    assert broken(run_builtin("ro-pin-after-fork", "v5.9", ("a308c71bf1e6",))) == []


def test_ro_pin_unshares_from_a7f226604170() -> None:
    before, after = both_sides("ro-pin-after-fork", "v5.19", "a7f226604170")
    assert before == ["ro_pin_coherence"]
    assert after == []


def test_pin_accounting_by_version() -> None:
    """Before eddb1c228f79 a driver used FOLL_GET (+1); v5.6 pins count +1; from
    3faa52c03f44 a pin adds GUP_PIN_COUNTING_BIAS."""
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - T1: {pin: buf, as: dev}
    """)
    for kernel, refcount, kind in (("v5.5", 2, "get"), ("v5.6", 2, "pin"), ("v5.7", 1025, "pin")):
        m = run_text(text, kernel).machine
        assert m.page(1).refcount == refcount
        assert m.refs[0].kind == kind


def _forced_write(kernel: str, revert: tuple[str, ...] = ()) -> bool:
    text = scenario_text("""
        - T1: {mmap: buf, prot: r}
        - T1: {pin: buf, as: poke, flags: [FOLL_GET, FOLL_FORCE, FOLL_WRITE]}
    """)
    return run_text(text, kernel, revert).machine.refs[0].write


def test_forced_write_gup_keeps_write_with_foll_cow_from_19be0eaffa3a() -> None:
    """Up to v4.8 GUP dropped FOLL_WRITE after the COW fault (the Dirty COW flaw): the
    forced-write reference comes back read-only.  FOLL_COW keeps it a write."""
    assert _forced_write("v4.9") is True
    assert _forced_write("v4.9", ("19be0eaffa3a",)) is False


def test_forced_write_needs_exclusive_anon_page_from_5535be309971() -> None:
    result = run_text(
        scenario_text("""
        - T1: {mmap: buf, prot: r}
        - T1: {pin: buf, as: poke, flags: [FOLL_GET, FOLL_FORCE, FOLL_WRITE]}
    """),
        "v6.0",
    )
    assert result.machine.refs[0].write is True
    assert any("5535be309971" in d for d in decisions(result))


# --- fork ---------------------------------------------------------------------------


def test_fork_copies_pinned_pages_from_70e806e4e645() -> None:
    before, after = both_sides("rdma-fork", "v5.9", "70e806e4e645")
    assert before == ["pin_coherence", "no_lost_write", "fork_isolation"]
    assert after == []


def test_early_cow_needs_mm_has_pinned_from_008cfe4418b3() -> None:
    """A page pinned through another mm (a child's R/O pin on a shared page) is maybe
    pinned, but the parent never pinned: with the has_pinned gate its next fork shares
    the page; without the gate the new child gets its own copy."""
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - T1: {fork: C}
        - C: {pin: buf, as: cpin, flags: [FOLL_PIN, FOLL_LONGTERM]}
        - T1: {fork: D}
    """)
    gated = run_text(text, "v5.9").machine
    ungated = run_text(text, "v5.9", ("008cfe4418b3",)).machine
    parent = resolve(gated, 0, 0x100)
    assert resolve(gated, gated.process_named("D").pid, 0x100) == parent
    assert resolve(ungated, ungated.process_named("D").pid, 0x100) != parent


# --- swap ---------------------------------------------------------------------------


def test_reclaim_keeps_pinned_pages_out_of_swap_from_feb889fb40fa() -> None:
    before, after = both_sides("iouring-swap", "v5.11", "feb889fb40fa")
    assert before == ["pin_coherence"]
    assert after == []


def test_swap_in_decides_on_refcount_from_c145e0b47c77() -> None:
    before, after = both_sides("vmsplice-child-swap", "v5.18", "c145e0b47c77")
    assert before == ["fork_isolation"]
    assert after == []


def test_swap_in_maps_an_exclusive_page_writable_on_a_read_fault_from_c18160dba5ff() -> None:
    """The read fault that brings the page back maps it writable and dirty, so the next
    write takes no fault; before, only a write fault did (and the read left it R/O)."""
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - kswapd: {reclaim: "P:buf"}
        - T1: {read: buf}
    """)
    after = run_text(text, "v6.11")
    before = run_text(text, "v6.11", ("c18160dba5ff",))
    views = [pte_view(r.machine.process_named("P").pte(0x100)) for r in (before, after)]
    assert all(type(v) is PresentPte for v in views)
    assert not views[0].write and not views[0].dirty
    assert views[1].write and views[1].dirty


def test_swap_pte_exclusive_bit_from_1493a1913e34() -> None:
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - kswapd: {reclaim: "P:buf"}
        - T1: {write: buf}
        - T1: {read: buf}
    """)
    with_bit = run_text(text, "v5.19")
    without = run_text(text, "v5.19", ("1493a1913e34",))
    assert broken(with_bit) == broken(without) == []
    assert any("exclusive bit set -> exclusive (1493a1913e34)" in d for d in decisions(with_bit))
    assert not any("exclusive bit set" in d for d in decisions(without))


def test_gup_takes_hinting_faults_with_foll_force_from_d74943a2f3cd() -> None:
    """Up to v6.4 a FOLL_FORCE GUP follows a NUMA PROT_NONE PTE without a hinting fault
    (the pin-after-scan window); from d74943a2f3cd it takes the fault first."""
    text = scenario_text(
        """
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - T2: numa_scan
        - T1: {pin: buf, as: dev, flags: [FOLL_PIN, FOLL_FORCE, FOLL_LONGTERM]}
    """,
        threads=TWO_THREADS,
        nodes=2,
        numa=True,
    )
    for revert, protnone in (((), False), (("d74943a2f3cd",), True)):
        result = run_text(text, "v6.5", revert)
        pte = pte_view(result.machine.processes[0].pte(0x100))
        assert type(pte) is PresentPte and pte.protnone is protnone


def test_ro_longterm_pin_unshares_the_zero_page_from_84209e87c696() -> None:
    """A R/O long-term pin of a never-written page pins the shared zero page until
    84209e87c696; the process's first write then copies, and the device reads zero."""
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {read: buf}
        - T1: {pin: buf, as: ro, flags: [FOLL_PIN, FOLL_LONGTERM]}
        - T1: {write: buf}
        - device: {dma_read: ro}
    """)
    before = run_text(text, "v6.2", ("84209e87c696",))
    after = run_text(text, "v6.2")
    assert broken(before) == ["ro_pin_coherence"]
    assert broken(after) == []


def test_forced_cow_break_does_not_make_a_ro_pin_writable() -> None:
    """17839856fd58 breaks COW for a R/O pin as if writing; the pin stays read-only."""
    result = run_builtin("ro-pin-after-fork", "v5.8")
    assert broken(result) == []
    assert [r.write for r in result.machine.refs] == [False]


def test_madv_pageout_exists_from_v5_4() -> None:
    from cowlab.model import SwapEntry

    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - kernel: lru_drain
        - T1: {madvise: buf, advice: pageout}
    """)
    assert type(pte_view(run_text(text, "v5.4").machine.processes[0].pte(0x100))) is SwapEntry
    assert type(pte_view(run_text(text, "v5.3").machine.processes[0].pte(0x100))) is PresentPte


def test_clear_refs_leaves_pinned_pages_alone_from_9348b73c2e1b() -> None:
    before, after = both_sides("clear-refs-pin", "v5.11", "9348b73c2e1b")
    assert before == ["pin_coherence"]
    assert after == []


def test_soft_dirty_tracking_stops_mprotect_making_pages_writable() -> None:
    """64fe24a3e05e maps an exclusive page writable on mprotect(RW) only when soft-dirty
    tracking does not need the write fault (cow.c clears soft-dirty for this)."""
    text = scenario_text("""
        - T1: {mmap: buf}
        - T1: {write: buf}
        - T1: clear_refs
        - T1: {mprotect: buf, prot: r}
        - T1: {mprotect: buf, prot: rw}
    """)
    pte = pte_view(run_text(text, "v6.0").machine.processes[0].pte(0x100))
    assert type(pte) is PresentPte and pte.write is False


def test_hugetlb_fork_copies_pinned_pages_from_4eae4efa2c29() -> None:
    before, after = both_sides("cow-iouring-fork-hugetlb", "v5.12", "4eae4efa2c29")
    assert before == ["pin_coherence"]
    assert after == []


def test_hugetlb_reuse_counts_mappings_not_references() -> None:
    """hugetlb_wp reuses an anon huge page mapped once whatever its references: a pinned
    page made R/O is reused (no wrong COW), and a vmsplice'd one leaks (cow.c XFAIL)."""
    assert broken(run_builtin("cow-iouring-ro-mapped-hugetlb", "v5.16")) == []
    assert broken(run_builtin("cow-vmsplice-unmap-child-hugetlb", "v6.12")) == ["fork_isolation"]


def test_gup_fast_backs_off_during_fork_from_57efa1fe5957() -> None:
    before, after = both_sides("rdma-fork-gup-fast", "v5.11", "57efa1fe5957")
    assert before == ["pin_coherence"]
    assert after == []


def test_two_threads_write_proc_mem_at_once() -> None:
    """Each writer holds its own GUP reference (one shared name once leaked a ref)."""
    text = scenario_text(
        """
        - T1: {mmap: buf, pages: 2}
        - T1: {proc_mem_write: buf, until: proc_mem.write}
        - T2: {proc_mem_write: "buf[1]", until: proc_mem.write}
        - T1: resume
        - T2: resume
        - T1: {read: buf}
        - T1: {read: "buf[1]"}
    """,
        threads=TWO_THREADS,
    )
    result = run_text(text, "v6.2")
    assert broken(result) == []
    assert result.machine.refs == ()


# --- GUP and NUMA hinting faults ----------------------------------------------------

#: a written page the scanner protected, and its thread moved to the other node
SCANNED_THEN_MOVED = """
    - T1: {mmap: buf}
    - T1: {write: buf}
    - kernel: lru_drain
    - T2: numa_scan
    - kernel: {move: T1, node: 1}
"""
RO_PIN_AFTER_SCAN = SCANNED_THEN_MOVED + "    - T1: {pin: buf, as: ro, flags: [FOLL_PIN, FOLL_LONGTERM]}\n"


def test_a_pin_takes_the_hinting_fault_only_before_7acddcc1ae30() -> None:
    """From d74943a2f3cd (v6.5) every GUP honours NUMA hinting faults, so an R/O pin on
    a page the scanner protected faults first and the page moves to the pinning task's
    node; 7acddcc1ae30 (v6.6) leaves that to callers that ask (KVM): the pin goes
    through the PROT_NONE PTE and the page stays where it was."""
    text = scenario_text(RO_PIN_AFTER_SCAN, threads=TWO_THREADS, nodes=2, numa=True)
    before = run_text(text, "v6.6", ("7acddcc1ae30",))
    after = run_text(text, "v6.6")
    assert broken(before) == broken(after) == []
    assert pfn_at(before) != 1 and pfn_at(after) == 1  # pfn 1 was allocated on node 0
    assert before.machine.pages[pfn_at(before)].node == 1
    assert after.machine.pages[1].node == 0
    assert isinstance(pte_view(after.machine.process_named("P").pte(0x100)), PresentPte)
    assert pte_view(after.machine.process_named("P").pte(0x100)).protnone


# --- migration entries ----------------------------------------------------------------

MIGRATE_AFTER_WRITE = SCANNED_THEN_MOVED + "    - T1: {read: buf}\n"


def test_migration_keeps_young_and_dirty_from_2e3468778dbe() -> None:
    """The page moves to the reading task's node either way; from 2e3468778dbe (v6.1)
    the new PTE is young and dirty as the old one was (pagemap's view of the mapping
    stays the same), before it the PTE came back old and clean."""
    text = scenario_text(MIGRATE_AFTER_WRITE, threads=TWO_THREADS, nodes=2, numa=True)
    before = run_text(text, "v6.1", ("2e3468778dbe",))
    after = run_text(text, "v6.1")
    for result in (before, after):
        assert broken(result) == [] and pfn_at(result) != 1  # migrated
    old = pte_view(before.machine.process_named("P").pte(0x100))
    new = pte_view(after.machine.process_named("P").pte(0x100))
    assert isinstance(old, PresentPte) and isinstance(new, PresentPte)
    assert (old.young, old.dirty) == (False, False)
    assert (new.young, new.dirty) == (True, True)
    assert old.write and new.write
