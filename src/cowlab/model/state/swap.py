"""Swap slots in the compact state: swap_map counts, the swap-cache page, and what was
written to disk.
"""

from __future__ import annotations

from cowlab.model.layout import (
    FREE_SLOT,
    S_CACHE,
    S_CONTENT,
    S_COUNT,
    S_IN_USE,
    SLOT_WORDS,
    LayoutOverflowError,
)
from cowlab.model.state.machine import NO_PFN, FlatMachine

# --- swap slots ----------------------------------------------------------------------------


def swap_in_use(m: FlatMachine, slot: int) -> bool:
    return bool(m.v[m.L.slot(slot) + S_IN_USE])


def swap_count(m: FlatMachine, slot: int) -> int:
    """swap_map[]: how many swap PTEs refer to the slot."""
    return m.v[m.L.slot(slot) + S_COUNT]


def swap_count_add(m: FlatMachine, slot: int, n: int) -> int:
    at = m.L.slot(slot) + S_COUNT
    m.v[at] += n
    return m.v[at]


def swap_cache_pfn(m: FlatMachine, slot: int) -> int:
    """The swap-cache page of the slot, or NO_PFN."""
    return m.v[m.L.slot(slot) + S_CACHE]


def set_swap_cache_pfn(m: FlatMachine, slot: int, pfn: int) -> None:
    m.v[m.L.slot(slot) + S_CACHE] = pfn


def swap_content(m: FlatMachine, slot: int) -> int:
    """The token written to disk, -1 before writeback."""
    return m.v[m.L.slot(slot) + S_CONTENT]


def set_swap_content(m: FlatMachine, slot: int, token: int) -> None:
    m.v[m.L.slot(slot) + S_CONTENT] = token


def get_swap_slot(m: FlatMachine) -> int:
    """The lowest free slot, taken (count 0, no cache page, nothing on disk)."""
    for slot in range(m.L.bounds.slots):
        if not m.v[m.L.slot(slot) + S_IN_USE]:
            take_swap_slot(m, slot)
            return slot
    raise LayoutOverflowError("slots", m.L.bounds.slots, "no free swap slot")


def take_swap_slot(m: FlatMachine, slot: int) -> None:
    """Mark ``slot`` in use: count 0, no cache page, nothing on disk yet."""
    base = m.L.slot(slot)
    m.v[base + S_IN_USE] = 1
    m.v[base + S_COUNT] = 0
    m.v[base + S_CACHE] = NO_PFN
    m.v[base + S_CONTENT] = -1


def free_swap_slot(m: FlatMachine, slot: int) -> None:
    base = m.L.slot(slot)
    for i in range(SLOT_WORDS):
        m.v[base + i] = FREE_SLOT[i]
