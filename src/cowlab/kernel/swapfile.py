"""Swap slots and the swap cache (mm/swapfile.c, mm/swap_state.c)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.kernel.pages import put_page
from cowlab.model import NO_PFN, NO_SLOT, Machine
from cowlab.model import state as S


def _check_slot(m: Machine, slot: int) -> None:
    if not S.swap_in_use(m, slot):
        raise ModelBugError(f"swap slot {slot} is free")


def _release_slot_if_unused(m: Machine, slot: int) -> None:
    _check_slot(m, slot)
    if S.swap_count(m, slot) == 0 and S.swap_cache_pfn(m, slot) == NO_PFN:
        S.free_swap_slot(m, slot)


def add_to_swap(c: Ctx, m: Machine, pfn: int) -> tuple[Machine, int]:
    """Give the page a swap slot and put it in the swap cache (+1 reference)."""
    slot = S.get_swap_slot(m)
    S.set_swap_cache_pfn(m, slot, pfn)
    S.set_page_swap_slot(m, pfn, slot)
    S.page_ref_add(m, pfn, 1)
    c.note("add_to_swap", f"pfn {pfn} added to the swap cache, slot {slot}")
    return m, slot


def delete_from_swap_cache(c: Ctx, m: Machine, pfn: int) -> Machine:
    slot = S.page_swap_slot(m, pfn)
    S.set_page_swap_slot(m, pfn, NO_SLOT)
    _check_slot(m, slot)
    S.set_swap_cache_pfn(m, slot, NO_PFN)
    _release_slot_if_unused(m, slot)
    c.note("delete_from_swap_cache", f"pfn {pfn} left the swap cache (slot {slot})")
    return put_page(c, m, pfn)


def swap_duplicate(m: Machine, slot: int) -> Machine:
    _check_slot(m, slot)
    S.swap_count_add(m, slot, 1)
    return m


def swap_free(m: Machine, slot: int) -> Machine:
    """One swap PTE fewer refers to the slot."""
    _check_slot(m, slot)
    if S.swap_count(m, slot) <= 0:
        raise ModelBugError(f"swap count of slot {slot} below zero")
    S.swap_count_add(m, slot, -1)
    _release_slot_if_unused(m, slot)
    return m


def swapcount(m: Machine, slot: int) -> int:
    _check_slot(m, slot)
    return S.swap_count(m, slot)


def try_to_free_swap(c: Ctx, m: Machine, pfn: int) -> tuple[Machine, bool]:
    """Drop the page from the swap cache if no swap PTE still needs the slot."""
    if not S.PageSwapCache(m, pfn) or swapcount(m, S.page_swap_slot(m, pfn)) != 0:
        return m, False
    return delete_from_swap_cache(c, m, pfn), True


def free_swap_and_cache(c: Ctx, m: Machine, slot: int) -> Machine:
    """A swap PTE is zapped: drop its count, and the cached page if nobody needs it."""
    m = swap_free(m, slot)
    if S.swap_in_use(m, slot) and S.swap_count(m, slot) == 0:
        pfn = S.swap_cache_pfn(m, slot)
        if pfn != NO_PFN and S.page_mapcount_raw(m, pfn) == 0 and not S.PageLocked(m, pfn):
            m = delete_from_swap_cache(c, m, pfn)
    return m


def free_swap_cache(c: Ctx, m: Machine, pfn: int) -> Machine:
    """After unmapping (zap, COW), drop an unmapped page's swap cache if it is unused."""
    if (
        not S.page_in_use(m, pfn)
        or not S.PageSwapCache(m, pfn)
        or S.page_mapcount_raw(m, pfn)
        or S.PageLocked(m, pfn)
    ):
        return m
    m, _ = try_to_free_swap(c, m, pfn)
    return m
