"""Page faults (mm/memory.c): handle_mm_fault, do_anonymous_page, do_wp_page,
do_swap_page; do_numa_page lives in numa_fault.py.

``handle_mm_fault`` returns ``"done"``, ``"write"`` (VM_FAULT_WRITE: the write
fault reused or copied the page) or ``"pending"`` (it pushed a continuation that
will pop back to the caller, whose frame then retries).
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import pop, push, stage
from cowlab.kernel.huge_memory import (
    do_huge_pmd_anonymous_page,
    do_huge_pmd_wp_page,
    new_folio,
    page_trans_huge_map_swapcount,
    pmd_mkyoung,
    thp_suitable,
)
from cowlab.kernel.lru import lru_add_drain, lru_cache_add
from cowlab.kernel.pages import (
    alloc_page,
    folio_pages,
    folio_total_mapcount,
    get_page,
    page_add_rmap,
    page_mapcount,
    page_remove_rmap,
    put_page,
)
from cowlab.kernel.pgtable import folio_mms, maybe_mkwrite
from cowlab.kernel.swapfile import delete_from_swap_cache, swap_free, swapcount, try_to_free_swap
from cowlab.kernel.vma import shared_pte_writable
from cowlab.model import MTHP_NR, NO_CPU, NO_PFN, ZERO_PFN, Frame, Machine, Vma
from cowlab.model import state as S
from cowlab.model.pte import (
    PAGE_READONLY,
    is_migration_entry,
    is_swap_entry,
    pfn_pte,
    pfn_swap_entry_to_pfn,
    pte_mkdirty,
    pte_mksoft_dirty,
    pte_mkwrite,
    pte_mkyoung,
    pte_none,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_protnone,
    pte_soft_dirty,
    pte_swp_exclusive,
    pte_swp_soft_dirty,
    pte_t,
    pte_to_swp_entry,
    pte_write,
    swp_offset,
)
from cowlab.model.state.convert import process_view, vma_at


class FaultLocals(NamedTuple):
    pid: int
    vpn: int
    write: bool
    unshare: bool = False


def _vma(m: Machine, pid: int, vpn: int) -> Vma:
    vma = vma_at(m, pid, vpn)
    assert vma is not None, "callers check the VMA"
    return vma


def handle_mm_fault(
    c: Ctx, m: Machine, ti: int, pid: int, vpn: int, *, write: bool, unshare: bool = False
) -> tuple[Machine, str]:
    """handle_pte_fault(): dispatch on the PTE.  Permission checks are the caller's
    (the arch fault handler for CPU accesses, check_vma_flags for GUP)."""
    pte = S.pte_at(m, pid, vpn)
    locals_ = FaultLocals(pid, vpn, write, unshare)
    vma = _vma(m, pid, vpn)
    if vma.hugetlb:
        from cowlab.kernel.hugetlb import hugetlb_fault

        return hugetlb_fault(c, m, ti, pid, vpn, write=write, unshare=unshare)
    if pte_none(pte):
        if vma.file:
            return do_fault(c, m, ti, locals_)
        # thp_suitable() reads the process's page table, so a view only where THPs may go
        if vma.thp_enabled and thp_suitable(process_view(m, pid), vma, vpn):
            do_huge_pmd_anonymous_page(c, m, ti, pid, vpn, write=write)
            return m, "done"
        return do_anonymous_page(c, m, ti, locals_)
    if is_migration_entry(pte):
        c.decide(
            "handle_pte_fault", f"migration entry for pfn {pfn_swap_entry_to_pfn(pte)}: wait for migration"
        )
        return push(m, ti, Frame("fault.migration_wait", locals_)), "pending"
    if is_swap_entry(pte):
        return do_swap_page(c, m, ti, locals_, pte)
    if pte_protnone(pte) and vma.accessible:
        # a PROT_NONE entry in an accessible VMA is a NUMA hinting entry; in a PROT_NONE
        # VMA it is the VMA's own protection, and a FOLL_FORCE access (ptrace,
        # /proc/pid/mem) goes on as a normal fault (mm/memory.c handle_pte_fault and
        # __handle_mm_fault: pte_protnone()/pmd_protnone() && vma_is_accessible())
        if pte_pmd_mapped(pte):
            from cowlab.kernel.numa_fault_huge import do_huge_pmd_numa_page

            return do_huge_pmd_numa_page(c, m, ti, locals_, pte)
        from cowlab.kernel.numa_fault import do_numa_page

        return do_numa_page(c, m, ti, locals_, pte)
    if (unshare or write) and not pte_write(pte):
        if pte_pmd_mapped(pte):
            _, status = do_huge_pmd_wp_page(c, m, ti, pid, vpn, unshare=unshare)
            if status != "fallback":
                return m, status
            return handle_mm_fault(c, m, ti, pid, vpn, write=write, unshare=unshare)
        return do_wp_page(c, m, ti, locals_, pte)
    if unshare:
        return m, "done"
    # spurious fault: the PTE (or PMD) already allows the access
    if pte_pmd_mapped(pte):
        pmd_mkyoung(m, pid, vpn, dirty=write)
        return m, "done"
    young = pte_mkyoung(pte)
    if write:
        young = pte_mkdirty(young)
    if young != pte:
        S.set_pte_at(m, pid, vpn, young)
    return m, "done"


def _migration_wait(m: Machine, ti: int, frame: Frame) -> str | None:
    loc: FaultLocals = frame.locals  # type: ignore[assignment]
    pte = S.pte_at(m, loc.pid, loc.vpn)
    if is_migration_entry(pte):
        return f"waiting in migration_entry_wait for pfn {pfn_swap_entry_to_pfn(pte)}"
    return None


@stage("fault.migration_wait", wait=_migration_wait)
def migration_wait_done(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """migration_entry_wait(): the entry is gone; return and let the access retry."""
    c.note("migration_entry_wait", "migration entry removed, retry the fault")
    return pop(m, ti, "done")


def _page_lock_wait(m: Machine, ti: int, frame: Frame) -> str | None:
    loc: FaultLocals = frame.locals  # type: ignore[assignment]
    pte = S.pte_at(m, loc.pid, loc.vpn)
    pfn = pte_pfn(pte) if pte_present(pte) else NO_PFN
    if is_swap_entry(pte):
        slot = swp_offset(pte_to_swp_entry(pte))
        pfn = S.swap_cache_pfn(m, slot) if S.swap_in_use(m, slot) else NO_PFN
    if pfn >= 0 and S.page_in_use(m, pfn) and S.PageLocked(m, pfn):
        return f"waiting in lock_page for pfn {pfn}"
    return None


@stage("fault.page_lock_wait", wait=_page_lock_wait)
def page_lock_wait_done(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """lock_page() slept until the page was unlocked; return and let the access retry."""
    c.note("lock_page", "page unlocked, retry the fault")
    return pop(m, ti, "done")


# --- do_anonymous_page --------------------------------------------------------


def do_anonymous_page(c: Ctx, m: Machine, ti: int, loc: FaultLocals) -> tuple[Machine, str]:
    """First touch: a read maps the shared zero page, a write a new zeroed anon page
    (added to the local LRU-add batch, exclusive from 6c287605fd56)."""
    vma = _vma(m, loc.pid, loc.vpn)
    if not loc.write:
        c.decide("do_anonymous_page", "read fault -> map the shared zero page read-only")
        S.set_pte_at(m, loc.pid, loc.vpn, pfn_pte(ZERO_PFN, PAGE_READONLY))
        return m, "done"
    node = S.task_node(m, ti)
    if c.r.anon_mthp and vma.mthp_enabled:
        base = loc.vpn - loc.vpn % MTHP_NR
        if (
            vma.start <= base
            and base + MTHP_NR <= vma.end
            and all(pte_none(S.pte_at(m, loc.pid, vpn)) for vpn in range(base, base + MTHP_NR))
        ):
            return _do_anonymous_mthp(c, m, loc, vma, base, node)
        c.decide("alloc_anon_folio", "the aligned range is not empty -> a small page", "anon_mthp")
    _, pfn = alloc_page(m, node, 0)
    page_add_rmap(m, pfn, exclusive=c.r.anon_exclusive)
    lru_cache_add(m, pfn, S.task_cpu(m, ti))
    pte = maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(pfn_pte(pfn, PAGE_READONLY))), vma)
    c.decide(
        "do_anonymous_page",
        f"write fault -> new page pfn {pfn} on node {node}, "
        f"PTE {'writable' if pte_write(pte) else 'read-only'}",
    )
    S.set_pte_at(m, loc.pid, loc.vpn, pte)
    return m, "done"


def _do_anonymous_mthp(
    c: Ctx, m: Machine, loc: FaultLocals, vma: Vma, base: int, node: int
) -> tuple[Machine, str]:
    """alloc_anon_folio() (19eaf44954df, v6.8): a zeroed large folio for the whole
    aligned range, every PTE mapping its subpage (set_ptes), each subpage exclusive
    from 6c287605fd56; a large folio skips the LRU-add batch."""
    pfns = new_folio(m, node, (0,) * MTHP_NR, exclusive=c.r.anon_exclusive, pmd_mapped=False)
    get_page(m, pfns[0], MTHP_NR - 1)  # one reference per PTE
    for i, pfn in enumerate(pfns):
        S.page_mapcount_add(m, pfn, 1)
        pte = maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(pfn_pte(pfn, PAGE_READONLY))), vma)
        S.set_pte_at(m, loc.pid, base + i, pte)
    c.decide(
        "do_anonymous_page",
        f"write fault -> new multi-size THP pfns {', '.join(map(str, pfns))} on node {node}, "
        f"{MTHP_NR} PTEs {'writable' if vma.writable else 'read-only'}",
        "anon_mthp",
    )
    return m, "done"


# --- do_fault: private file mappings --------------------------------------------------


def do_fault(c: Ctx, m: Machine, ti: int, loc: FaultLocals) -> tuple[Machine, str]:
    """First touch of a file mapping.  Private: a read maps the page-cache page
    read-only (do_read_fault); a write copies it into a new anon page (do_cow_fault),
    writable only if the VMA is VM_WRITE.  Shared: both map the page-cache page
    (do_shared_fault for a write)."""
    vma = _vma(m, loc.pid, loc.vpn)
    file = S.file_named(m, vma.file)
    if file < 0:
        raise KeyError(vma.file)
    cached = S.file_page_pfn(m, file, vma.pgoff + loc.vpn - vma.start)
    if vma.shared or not (loc.write or loc.unshare):
        return finish_fault(c, m, loc, vma, cached)
    _, pfn = alloc_page(m, S.task_node(m, ti), S.page_content(m, cached))
    page_add_rmap(m, pfn, exclusive=c.r.anon_exclusive)
    lru_cache_add(m, pfn, S.task_cpu(m, ti))
    pte = pfn_pte(pfn, PAGE_READONLY)
    if not loc.unshare:
        pte = maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(pte)), vma)
    c.decide(
        "do_cow_fault",
        f"write fault -> copy page-cache pfn {cached} of {vma.file} into "
        f"new anon pfn {pfn}, PTE {'writable' if pte_write(pte) else 'read-only'}",
    )
    S.set_pte_at(m, loc.pid, loc.vpn, pte)
    return m, "done"


def finish_fault(c: Ctx, m: Machine, loc: FaultLocals, vma: Vma, cached: int) -> tuple[Machine, str]:
    """do_read_fault() and do_shared_fault() end in finish_fault(): map the page-cache
    page itself.  A write fault (a shared mapping only: a private one copies) maps it
    writable and dirty, page_mkwrite having let the filesystem know; a read fault
    with the VMA's vm_page_prot, writable only in a shared mapping that wants no write
    notification (tmpfs; vma_wants_writenotify)."""
    get_page(m, cached)
    page_add_rmap(m, cached)
    pte = pfn_pte(cached, PAGE_READONLY)
    if loc.write:
        pte = pte_mkwrite(pte_mksoft_dirty(pte_mkdirty(pte)))
        c.decide(
            "do_shared_fault", f"write fault -> map page-cache pfn {cached} of {vma.file} writable, dirty"
        )
    else:
        writable = vma.shared and shared_pte_writable(m, vma, dirty=False)
        pte = pte_mkwrite(pte) if writable else pte
        c.decide(
            "do_read_fault",
            f"map page-cache pfn {cached} of {vma.file} "
            + ("writable (no write notification wanted)" if writable else "read-only"),
        )
    S.set_pte_at(m, loc.pid, loc.vpn, pte)
    return m, "done"


# --- do_wp_page ---------------------------------------------------------------


def wp_page_shared(c: Ctx, m: Machine, loc: FaultLocals, pte: pte_t) -> tuple[Machine, str]:
    """A write fault on a read-only PTE of a MAP_SHARED mapping: no copy, ever.  The
    filesystem hears of the write (page_mkwrite, dirty accounting), then
    wp_page_reuse() makes the PTE writable and dirty."""
    return wp_page_reuse(c, m, loc, pte, why="shared mapping: wp_page_shared, page_mkwrite")


def wp_page_reuse(
    c: Ctx, m: Machine, loc: FaultLocals, pte: pte_t, *, why: str, rule: str = ""
) -> tuple[Machine, str]:
    """Keep the page: writable+dirty, or (unshare) still read-only but exclusive."""
    vma = _vma(m, loc.pid, loc.vpn)
    pfn = pte_pfn(pte)
    c.decide("do_wp_page", f"{why} -> reuse pfn {pfn}", rule)
    if c.r.anon_exclusive and S.PageAnon(m, pfn):  # a page-cache page has no such bit
        S.SetPageAnonExclusive(m, pfn)
    if loc.unshare:
        return m, "done"
    new = maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(pte_mkyoung(pte))), vma)
    S.set_pte_at(m, loc.pid, loc.vpn, new)
    return m, "write"


def wp_page_copy(
    c: Ctx, m: Machine, ti: int, loc: FaultLocals, pte: pte_t, *, why: str, rule: str = ""
) -> tuple[Machine, str]:
    """Copy to a new exclusive page, map it, drop the old mapping's reference."""
    vma = _vma(m, loc.pid, loc.vpn)
    old = pte_pfn(pte)
    _, new = alloc_page(m, S.task_node(m, ti), S.page_content(m, old))
    c.decide("do_wp_page", f"{why} -> copy pfn {old} to new pfn {new}", rule)
    page_add_rmap(m, new, exclusive=c.r.anon_exclusive)
    lru_cache_add(m, new, S.task_cpu(m, ti))
    new_pte = pfn_pte(new, PAGE_READONLY)
    if loc.unshare:
        if pte_soft_dirty(pte):
            new_pte = pte_mksoft_dirty(new_pte)
    else:
        new_pte = maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(new_pte)), vma)
    S.set_pte_at(m, loc.pid, loc.vpn, new_pte)
    if old != ZERO_PFN:
        page_remove_rmap(m, old)
        put_page(c, m, old)
    return m, "write"


def do_wp_page(c: Ctx, m: Machine, ti: int, loc: FaultLocals, pte: pte_t) -> tuple[Machine, str]:
    """Write (or unshare) fault on a present read-only PTE: reuse the page or copy it.

    Rules by version (docs/reference/kernel-behaviour.md#write-fault-on-a-read-only-pte):
    - <= v5.8: reuse iff reuse_swap_page(): mapcount + swapcount <= 1 (GUP refs ignored).
    - 09854ba94c6a "mm: do_wp_page() simplification" (v5.9): reuse iff refcount == 1.
    - d4c470970d45 / 53a05ad9f21d (v5.18): drain the local LRU batch and free the swap
      cache first, then require refcount == 1.
    - 6c287605fd56 (v5.19): a PageAnonExclusive page is always reused.
    For a subpage of a PTE-mapped THP, page_count() is the folio's: it holds one
    reference per mapped subpage, so such a page is copied from v5.9 on.
    """
    pfn = pte_pfn(pte)
    r = c.r
    if _vma(m, loc.pid, loc.vpn).shared:
        return wp_page_shared(c, m, loc, pte)
    if pfn == ZERO_PFN:
        return wp_page_copy(c, m, ti, loc, pte, why="shared zero page")
    if S.PageTransCompound(m, pfn):
        return _do_wp_subpage(c, m, ti, loc, pte)
    if not S.PageAnon(m, pfn):
        return wp_page_copy(c, m, ti, loc, pte, why="page-cache page in a private mapping")
    if r.anon_exclusive and S.PageAnonExclusive(m, pfn):
        return wp_page_reuse(c, m, loc, pte, why="PageAnonExclusive", rule="anon_exclusive")
    if not r.wp_reuse_refcount:
        return _wp_reuse_swap_page(c, m, ti, loc, pte)
    if r.wp_lru_drain:
        refcount = S.page_count(m, pfn)
        if refcount > 3:
            return wp_page_copy(c, m, ti, loc, pte, why=f"refcount {refcount} > 3", rule="wp_lru_drain")
        if not S.PageLRU(m, pfn) and S.page_lru_batch(m, pfn) != NO_CPU:
            c.decide("do_wp_page", "page not on the LRU -> lru_add_drain()", "wp_lru_drain")
            lru_add_drain(c, m, S.task_cpu(m, ti), "do_wp_page")
    if r.wp_swapcache_free:
        refcount = S.page_count(m, pfn)
        swapcache = S.PageSwapCache(m, pfn)
        limit = 1 + int(swapcache)
        if refcount > limit:
            why = f"refcount {refcount} > 1 + swapcache {int(swapcache)}"
            return wp_page_copy(c, m, ti, loc, pte, why=why, rule="wp_swapcache_free")
        if c.choice == "trylock_fail" or S.PageLocked(m, pfn):
            return wp_page_copy(c, m, ti, loc, pte, why="trylock_page failed")
        if swapcache:
            _, freed = try_to_free_swap(c, m, pfn)
            c.decide(
                "do_wp_page",
                "try_to_free_swap: " + ("freed" if freed else "slot still in use"),
                "wp_swapcache_free",
            )
        refcount = S.page_count(m, pfn)
        if refcount != 1:
            return wp_page_copy(c, m, ti, loc, pte, why=f"refcount {refcount} != 1", rule="wp_swapcache_free")
        return wp_page_reuse(c, m, loc, pte, why="refcount 1", rule="wp_swapcache_free")
    # 09854ba94c6a: v5.9 .. v5.17
    refcount = S.page_count(m, pfn)
    if refcount != 1:
        return wp_page_copy(c, m, ti, loc, pte, why=f"refcount {refcount} != 1", rule="wp_reuse_refcount")
    if c.choice == "trylock_fail" or S.PageLocked(m, pfn):
        return wp_page_copy(c, m, ti, loc, pte, why="trylock_page failed", rule="wp_reuse_refcount")
    mapcount = S.page_mapcount_raw(m, pfn)
    if mapcount != 1:
        return wp_page_copy(c, m, ti, loc, pte, why=f"mapcount {mapcount} != 1", rule="wp_reuse_refcount")
    return wp_page_reuse(c, m, loc, pte, why="refcount 1, mapcount 1", rule="wp_reuse_refcount")


def _do_wp_subpage(c: Ctx, m: Machine, ti: int, loc: FaultLocals, pte: pte_t) -> tuple[Machine, str]:
    """do_wp_page() on a PTE-mapped THP subpage: the same rules, read off the folio (its
    refcount, lock) and the subpage (its PageAnonExclusive bit, page_mapcount())."""
    r = c.r
    pfn = pte_pfn(pte)
    folio = S.compound_head(m, pfn)
    if r.anon_exclusive and S.PageAnonExclusive(m, pfn):
        return wp_page_reuse(c, m, loc, pte, why="PageAnonExclusive", rule="anon_exclusive")
    if r.wp_reuse_large_exclusive:
        return _wp_can_reuse_large_folio(c, m, ti, loc, pte, folio)
    if r.wp_no_reuse_large:
        return wp_page_copy(c, m, ti, loc, pte, why="a large folio is never reused", rule="wp_no_reuse_large")
    if not r.wp_reuse_refcount:
        return _wp_reuse_swap_page(c, m, ti, loc, pte)
    refcount = S.page_count(m, folio)
    if r.wp_lru_drain and refcount > 3:
        return wp_page_copy(c, m, ti, loc, pte, why=f"THP page_count {refcount} > 3", rule="wp_lru_drain")
    if refcount != 1:
        return wp_page_copy(
            c, m, ti, loc, pte, why=f"THP page_count {refcount} != 1", rule="wp_reuse_refcount"
        )
    if c.choice == "trylock_fail" or S.PageLocked(m, folio):
        return wp_page_copy(c, m, ti, loc, pte, why="trylock_page failed", rule="wp_reuse_refcount")
    mapcount = page_mapcount(m, pfn)
    if not r.wp_swapcache_free and mapcount != 1:
        return wp_page_copy(c, m, ti, loc, pte, why=f"mapcount {mapcount} != 1", rule="wp_reuse_refcount")
    return wp_page_reuse(c, m, loc, pte, why="THP page_count 1", rule="wp_reuse_refcount")


def _wp_can_reuse_large_folio(
    c: Ctx, m: Machine, ti: int, loc: FaultLocals, pte: pte_t, folio: int
) -> tuple[Machine, str]:
    """1da190f4d0a6 "mm: Copy-on-Write (COW) reuse support for PTE-mapped THP" (v6.15):
    reuse the subpage if this mm alone maps the folio and every reference is one of its
    mappings (or the swap cache); only the faulting PTE becomes writable."""
    fn = "wp_can_reuse_anon_folio"
    pages = folio_pages(m, folio)
    if folio_mms(m, frozenset(pages)) != {loc.pid}:
        return wp_page_copy(
            c, m, ti, loc, pte, why="large folio maybe mapped by another mm", rule="wp_reuse_large_exclusive"
        )
    refcount, maps = S.page_count(m, folio), folio_total_mapcount(m, folio)
    swapcache = sum(S.PageSwapCache(m, p) for p in pages)
    if refcount != maps + swapcache:
        why = f"large folio refcount {refcount} != {maps} mappings + {swapcache} swap cache"
        return wp_page_copy(c, m, ti, loc, pte, why=why, rule="wp_reuse_large_exclusive")
    c.decide(
        fn, f"large folio mapped only here, refcount {refcount} = its mappings", "wp_reuse_large_exclusive"
    )
    return wp_page_reuse(c, m, loc, pte, why="exclusive large folio", rule="wp_reuse_large_exclusive")


def reuse_swap_page(c: Ctx, m: Machine, pfn: int) -> tuple[Machine, bool, int]:
    """<= v5.17: exclusive iff mapcount + swapcount <= 1; when exactly 1 and in the swap
    cache, the page leaves the swap cache.  Returns (machine, reuse, count).  For a THP
    subpage the count is page_trans_huge_map_swapcount() over the folio."""
    if S.PageTransCompound(m, pfn):
        count = page_trans_huge_map_swapcount(m, pfn)
        return m, count <= 1, count
    swapcache = S.PageSwapCache(m, pfn)
    count = S.page_mapcount_raw(m, pfn) + (swapcount(m, S.page_swap_slot(m, pfn)) if swapcache else 0)
    if count == 1 and swapcache:
        delete_from_swap_cache(c, m, pfn)
    return m, count <= 1, count


def _wp_reuse_swap_page(c: Ctx, m: Machine, ti: int, loc: FaultLocals, pte: pte_t) -> tuple[Machine, str]:
    pfn = pte_pfn(pte)
    folio = S.compound_head(m, pfn)
    if S.PageLocked(m, folio):
        c.decide("do_wp_page", f"pfn {pfn} is locked -> lock_page() sleeps")
        return push(m, ti, Frame("fault.page_lock_wait", loc)), "pending"
    thp = S.PageTransCompound(m, folio)
    mapcount = S.page_mapcount_raw(m, folio)
    swaps = swapcount(m, S.page_swap_slot(m, folio)) if S.PageSwapCache(m, folio) else 0
    _, reuse, count = reuse_swap_page(c, m, pfn)
    why = (
        f"reuse_swap_page: THP map+swap count {count}"
        if thp
        else f"reuse_swap_page: mapcount {mapcount} + swapcount {swaps} = {count}"
    )
    if reuse:
        return wp_page_reuse(c, m, loc, pte, why=why, rule="wp_reuse_refcount")
    return wp_page_copy(c, m, ti, loc, pte, why=why, rule="wp_reuse_refcount")


# --- do_swap_page -------------------------------------------------------------


def do_swap_page(c: Ctx, m: Machine, ti: int, loc: FaultLocals, orig_pte: pte_t) -> tuple[Machine, str]:
    """Swap-in: find or read the page, map it, decide whether a write may map it writable.

    - <= v5.17: writable iff reuse_swap_page() (mapcount + swapcount, GUP refs ignored).
    - c145e0b47c77 "mm: streamline COW logic in do_swap_page()" (v5.18): free the swap
      cache first; writable iff refcount == 1.
    - 1493a1913e34 (v5.19): the swap PTE's exclusive bit says exclusive outright.
    - c18160dba5ff "mm: swap: reuse exclusive folio directly instead of wp page faults"
      (v6.11): an exclusive page in a writable VMA is mapped writable (and dirty) on a
      read fault too, unless soft-dirty tracking wants the write fault.
    The read from the swap device is modeled as synchronous (one step).
    """
    fn = "do_swap_page"
    r = c.r
    slot = swp_offset(pte_to_swp_entry(orig_pte))
    assert S.swap_in_use(m, slot)
    pfn = S.swap_cache_pfn(m, slot)
    if pfn >= 0:
        if S.PageLocked(m, pfn):
            c.decide(fn, f"swap-cache pfn {pfn} is locked -> lock_page() sleeps")
            return push(m, ti, Frame("fault.page_lock_wait", loc)), "pending"
        get_page(m, pfn)
        c.decide(fn, f"slot {slot} found in the swap cache: pfn {pfn}")
    else:
        _, pfn = alloc_page(m, S.task_node(m, ti), S.swap_content(m, slot))
        S.set_page_swap_slot(m, pfn, slot)
        S.page_ref_add(m, pfn, 1)
        S.set_swap_cache_pfn(m, slot, pfn)
        lru_cache_add(m, pfn, S.task_cpu(m, ti))
        c.decide(fn, f"slot {slot} read from swap into new pfn {pfn}")
    vma = _vma(m, loc.pid, loc.vpn)
    writable = False
    exclusive = False
    if not r.swapin_refcount:
        # reuse_swap_page() before this PTE is counted: mapcount + swapcount
        if loc.write:
            mapcount = S.page_mapcount_raw(m, pfn)
            swaps = swapcount(m, slot)
            _, reuse, count = reuse_swap_page(c, m, pfn)
            c.decide(
                fn,
                f"reuse_swap_page: mapcount {mapcount} + swapcount {swaps} = {count}"
                + (" -> map writable" if reuse else " -> map read-only, then do_wp_page"),
                "swapin_refcount",
            )
            writable = exclusive = reuse
        swap_free(m, slot)
    else:
        bit = r.swap_exclusive_bit and pte_swp_exclusive(orig_pte)
        swap_free(m, slot)
        if S.PageSwapCache(m, pfn) and loc.write and S.page_count(m, pfn) == 2:
            try_to_free_swap(c, m, pfn)
        refcount = S.page_count(m, pfn)
        matters = loc.write or r.anon_exclusive  # a read fault maps R/O unless PAE is kept
        if bit:
            exclusive = True
            c.decide(fn, "swap PTE exclusive bit set -> exclusive", "swap_exclusive_bit")
        elif refcount == 1:
            exclusive = True
            if matters:
                c.decide(fn, "refcount 1 -> exclusive", "swapin_refcount")
        elif matters:
            c.decide(fn, f"refcount {refcount} != 1 -> not exclusive", "swapin_refcount")
        writable = exclusive and loc.write
        if exclusive and not loc.write and r.swapin_map_writable_exclusive and vma.writable:
            if vma.soft_dirty_tracking and not pte_swp_soft_dirty(orig_pte):
                c.decide(
                    fn,
                    "exclusive, but soft-dirty tracking needs the write fault -> read-only",
                    "swapin_map_writable_exclusive",
                )
            else:
                writable = True
                c.decide(
                    fn,
                    "exclusive in a writable VMA -> map writable on a read fault",
                    "swapin_map_writable_exclusive",
                )
    page_add_rmap(m, pfn, exclusive=True if (exclusive and r.anon_exclusive) else None)
    pte = pfn_pte(pfn, PAGE_READONLY)
    if writable:
        pte = maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(pte)), vma)
    if pte_swp_soft_dirty(orig_pte):
        pte = pte_mksoft_dirty(pte)
    S.set_pte_at(m, loc.pid, loc.vpn, pte)
    if loc.write and not writable:
        return do_wp_page(c, m, ti, loc, pte)
    return m, ("write" if writable else "done")
