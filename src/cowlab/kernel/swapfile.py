"""Swap slots and the swap cache (mm/swapfile.c, mm/swap_state.c)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.kernel.pages import put_page
from cowlab.model import NO_PFN, NO_SLOT, Machine, SwapSlot


def _slot(m: Machine, slot: int) -> SwapSlot:
    value = m.swap[slot]
    if value is None:
        raise ModelBugError(f"swap slot {slot} is free")
    return value


def _release_slot_if_unused(m: Machine, slot: int) -> Machine:
    value = _slot(m, slot)
    if value.count == 0 and value.cache == NO_PFN:
        return m.with_slot(slot, None)
    return m


def add_to_swap(c: Ctx, m: Machine, pfn: int) -> tuple[Machine, int]:
    """Give the page a swap slot and put it in the swap cache (+1 reference)."""
    m, slot = m.with_new_slot(SwapSlot(count=0, cache=pfn))
    page = m.page(pfn)
    m = m.with_page(pfn, page._replace(swapcache=slot, refcount=page.refcount + 1))
    c.note("add_to_swap", f"pfn {pfn} added to the swap cache, slot {slot}")
    return m, slot


def delete_from_swap_cache(c: Ctx, m: Machine, pfn: int) -> Machine:
    page = m.page(pfn)
    slot = page.swapcache
    m = m.with_page(pfn, page._replace(swapcache=NO_SLOT))
    m = m.with_slot(slot, _slot(m, slot)._replace(cache=NO_PFN))
    m = _release_slot_if_unused(m, slot)
    c.note("delete_from_swap_cache", f"pfn {pfn} left the swap cache (slot {slot})")
    return put_page(c, m, pfn)


def swap_duplicate(m: Machine, slot: int) -> Machine:
    value = _slot(m, slot)
    return m.with_slot(slot, value._replace(count=value.count + 1))


def swap_free(m: Machine, slot: int) -> Machine:
    """One swap PTE fewer refers to the slot."""
    value = _slot(m, slot)
    if value.count <= 0:
        raise ModelBugError(f"swap count of slot {slot} below zero")
    m = m.with_slot(slot, value._replace(count=value.count - 1))
    return _release_slot_if_unused(m, slot)


def swapcount(m: Machine, slot: int) -> int:
    return _slot(m, slot).count


def try_to_free_swap(c: Ctx, m: Machine, pfn: int) -> tuple[Machine, bool]:
    """Drop the page from the swap cache if no swap PTE still needs the slot."""
    page = m.page(pfn)
    if not page.in_swapcache or swapcount(m, page.swapcache) != 0:
        return m, False
    return delete_from_swap_cache(c, m, pfn), True


def free_swap_and_cache(c: Ctx, m: Machine, slot: int) -> Machine:
    """A swap PTE is zapped: drop its count, and the cached page if nobody needs it."""
    m = swap_free(m, slot)
    value = m.swap[slot] if slot < len(m.swap) else None
    if value is not None and value.count == 0 and value.cache != NO_PFN:
        page = m.page(value.cache)
        if page.mapcount == 0 and not page.locked:
            m = delete_from_swap_cache(c, m, value.cache)
    return m


def free_swap_cache(c: Ctx, m: Machine, pfn: int) -> Machine:
    """After unmapping (zap, COW), drop an unmapped page's swap cache if it is unused."""
    page = m.pages[pfn]
    if page is None or not page.in_swapcache or page.mapcount or page.locked:
        return m
    m, _ = try_to_free_swap(c, m, pfn)
    return m
