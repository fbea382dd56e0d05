"""Reclaim of one anon page to swap (mm/vmscan.c shrink_page_list, mm/rmap.c
try_to_unmap), as stages: the page lock is held from ``reclaim.isolated`` to the end.

- feb889fb40fa "mm: don't put pinned pages into the swap cache" (v5.11): a maybe-pinned
  page is kept.
- 6c287605fd56 (v5.19): an exclusive page cannot be unmapped while maybe pinned; from
  1493a1913e34 its swap PTE keeps an exclusive bit.
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import goto, pop, push, stage
from cowlab.kernel.huge_memory import split_huge_page
from cowlab.kernel.lru import isolate_lru_page, putback_lru_page
from cowlab.kernel.pages import page_maybe_dma_pinned, page_remove_rmap, put_page
from cowlab.kernel.pgtable import rmap_present
from cowlab.kernel.swapfile import add_to_swap, delete_from_swap_cache, swap_duplicate
from cowlab.model import ZERO_PFN, Frame, Machine
from cowlab.model import state as S
from cowlab.model.pte import (
    SWP_SWAPFILE,
    pte_pfn,
    pte_present,
    pte_soft_dirty,
    pte_swp_exclusive,
    pte_swp_mkexclusive,
    pte_swp_mksoft_dirty,
    swp_entry,
    swp_entry_to_pte,
)


class ReclaimLocals(NamedTuple):
    pfn: int


class PageoutLocals(NamedTuple):
    pid: int
    vpns: tuple[int, ...]


def reclaim_frame(pfn: int) -> Frame:
    return Frame("reclaim.start", ReclaimLocals(pfn))


def _keep(c: Ctx, m: Machine, ti: int, pfn: int, why: str, *, locked: bool) -> Machine:
    c.decide("shrink_page_list", f"pfn {pfn}: {why} -> keep")
    if locked:
        S.set_page_locked(m, pfn, False)
    m = putback_lru_page(c, m, pfn)
    return pop(m, ti, "kept")


@stage("reclaim.start")
def shrink_isolate(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """isolate_lru_page(): take the page off the LRU for reclaim."""
    loc: ReclaimLocals = frame.locals  # type: ignore[assignment]
    if not S.page_in_use(m, loc.pfn):
        c.note("shrink_page_list", f"pfn {loc.pfn} already freed")
        return pop(m, ti, "kept")
    if S.PageTransCompound(m, loc.pfn) and S.PageAnon(m, loc.pfn):
        # THP swap-out as a whole is not modeled: split first, as reclaim does when it
        # cannot swap the THP in one piece (the subpages are then swapped one by one)
        m, ok = split_huge_page(c, m, loc.pfn, "shrink_page_list")
        if not ok:
            return pop(m, ti, "kept")
    m, ok = isolate_lru_page(c, m, loc.pfn, "shrink_page_list")
    if not ok:
        return pop(m, ti, "kept")
    return goto(m, ti, "reclaim.isolated")


@stage("reclaim.isolated", choices=("trylock_fail",))
def shrink_add_to_swap(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Lock the page; keep it if maybe pinned (from feb889fb40fa); else add_to_swap()."""
    loc: ReclaimLocals = frame.locals  # type: ignore[assignment]
    pfn = loc.pfn
    if S.PageLocked(m, pfn) or c.choice == "trylock_fail":
        return _keep(c, m, ti, pfn, "trylock_page failed", locked=False)
    S.set_page_locked(m, pfn, True)
    if not S.PageAnon(m, pfn):
        return _keep(c, m, ti, pfn, "page-cache page (file reclaim is not modeled)", locked=True)
    if not S.PageSwapCache(m, pfn):
        pinned = page_maybe_dma_pinned(m, pfn)
        if c.r.reclaim_skip_pinned and pinned:
            c.decide(
                "shrink_page_list",
                f"pfn {pfn} maybe DMA-pinned (refcount "
                f"{S.page_count(m, pfn)}) -> not added to the swap cache",
                "reclaim_skip_pinned",
            )
            return _keep(c, m, ti, pfn, "pinned", locked=True)
        if pinned:
            c.decide(
                "shrink_page_list",
                f"pfn {pfn} maybe DMA-pinned but added to the swap cache anyway",
                "reclaim_skip_pinned",
            )
        m, _ = add_to_swap(c, m, pfn)
    return goto(m, ti, "reclaim.swapcache")


@stage("reclaim.swapcache")
def shrink_unmap(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """try_to_unmap(): every mapping becomes a swap PTE."""
    loc: ReclaimLocals = frame.locals  # type: ignore[assignment]
    r = c.r
    slot = S.page_swap_slot(m, loc.pfn)
    for pid, vpn, pte in rmap_present(m, loc.pfn):
        exclusive = r.anon_exclusive and S.PageAnonExclusive(m, loc.pfn)
        if exclusive and page_maybe_dma_pinned(m, loc.pfn):
            c.decide(
                "try_to_unmap", f"pfn {loc.pfn} exclusive and maybe pinned -> cannot unmap", "anon_exclusive"
            )
            return _keep(c, m, ti, loc.pfn, "still mapped", locked=True)
        swp_pte = swp_entry_to_pte(swp_entry(SWP_SWAPFILE, slot))
        if exclusive and r.swap_exclusive_bit:
            swp_pte = pte_swp_mkexclusive(swp_pte)
        if pte_soft_dirty(pte):
            swp_pte = pte_swp_mksoft_dirty(swp_pte)
        S.set_pte_at(m, pid, vpn, swp_pte)
        m = swap_duplicate(m, slot)
        m = page_remove_rmap(m, loc.pfn)
        if exclusive:
            S.ClearPageAnonExclusive(m, loc.pfn)
        m = put_page(c, m, loc.pfn)
        c.decide(
            "try_to_unmap",
            f"{S.mm_name(m, pid)} vpn {vpn:#x} -> swap entry (slot "
            f"{slot}{', exclusive' if pte_swp_exclusive(swp_pte) else ''})",
        )
    return goto(m, ti, "reclaim.unmapped")


@stage("reclaim.unmapped")
def shrink_pageout(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """pageout(): write the page's content to its swap slot."""
    loc: ReclaimLocals = frame.locals  # type: ignore[assignment]
    slot = S.page_swap_slot(m, loc.pfn)
    assert S.swap_in_use(m, slot)
    S.set_swap_content(m, slot, S.page_content(m, loc.pfn))
    c.note("pageout", f"pfn {loc.pfn} written to swap slot {slot}")
    return goto(m, ti, "reclaim.written")


@stage("reclaim.written")
def shrink_remove_mapping(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """__remove_mapping(): free the page only if the swap cache and isolation hold the
    only references; extra ones (a GUP reference or pin) keep it in the swap cache."""
    loc: ReclaimLocals = frame.locals  # type: ignore[assignment]
    refcount = S.page_count(m, loc.pfn)
    if S.page_mapcount_raw(m, loc.pfn) or refcount != 2:
        return _keep(
            c,
            m,
            ti,
            loc.pfn,
            f"refcount {refcount} != 2 (swap cache + isolation): page stays in the swap cache",
            locked=True,
        )
    c.decide("__remove_mapping", f"pfn {loc.pfn}: refcount 2 -> free")
    S.set_page_locked(m, loc.pfn, False)
    m = delete_from_swap_cache(c, m, loc.pfn)
    S.SetPageIsolated(m, loc.pfn, False)
    m = put_page(c, m, loc.pfn)
    return pop(m, ti, "reclaimed")


@stage("madvise.pageout")
def madvise_pageout(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """MADV_PAGEOUT: reclaim the region's pages one by one from the caller's context."""
    loc: PageoutLocals = frame.locals  # type: ignore[assignment]
    for i, vpn in enumerate(loc.vpns):
        pte = S.pte_at(m, loc.pid, vpn)
        if pte_present(pte) and pte_pfn(pte) != ZERO_PFN:
            m = goto(m, ti, "madvise.pageout", locals=loc._replace(vpns=loc.vpns[i + 1 :]))
            return push(m, ti, reclaim_frame(pte_pfn(pte)))
    return pop(m, ti, "done")
