"""struct page in the compact state: flags, counts, node, content, swap cache, LRU batch,
compound head.  Names follow include/linux/mm.h and page-flags.h.
"""

from __future__ import annotations

from cowlab.model.layout import (
    FREE_PAGE,
    PAGE_WORDS,
    PF_ANON,
    PF_ANON_EXCLUSIVE,
    PF_HUGE_ZERO,
    PF_HUGETLB,
    PF_IN_USE,
    PF_ISOLATED,
    PF_LOCKED,
    PF_LRU,
    PG_COMPOUND_MAPCOUNT,
    PG_CONTENT,
    PG_FLAGS,
    PG_HEAD,
    PG_LRU_BATCH,
    PG_MAPCOUNT,
    PG_NODE,
    PG_PINCOUNT,
    PG_PRIVATE,
    PG_REFCOUNT,
    LayoutOverflowError,
)
from cowlab.model.page import NO_CPU, NO_HEAD, NO_SLOT
from cowlab.model.state.machine import FlatMachine

# --- struct page ----------------------------------------------------------------------------


def _page_flag(m: FlatMachine, pfn: int, bit: int) -> bool:
    return bool(m.v[m.L.page(pfn) + PG_FLAGS] & bit)


def _set_page_flag(m: FlatMachine, pfn: int, bit: int, on: bool) -> None:
    at = m.L.page(pfn) + PG_FLAGS
    m.v[at] = m.v[at] | bit if on else m.v[at] & ~bit


def page_in_use(m: FlatMachine, pfn: int) -> bool:
    return _page_flag(m, pfn, PF_IN_USE)


def PageAnon(m: FlatMachine, pfn: int) -> bool:
    return _page_flag(m, pfn, PF_ANON)


def PageAnonExclusive(m: FlatMachine, pfn: int) -> bool:
    return _page_flag(m, pfn, PF_ANON_EXCLUSIVE)


def SetPageAnonExclusive(m: FlatMachine, pfn: int) -> None:
    _set_page_flag(m, pfn, PF_ANON_EXCLUSIVE, True)


def ClearPageAnonExclusive(m: FlatMachine, pfn: int) -> None:
    _set_page_flag(m, pfn, PF_ANON_EXCLUSIVE, False)


def PageLRU(m: FlatMachine, pfn: int) -> bool:
    return _page_flag(m, pfn, PF_LRU)


def SetPageLRU(m: FlatMachine, pfn: int, on: bool = True) -> None:
    _set_page_flag(m, pfn, PF_LRU, on)


def PageIsolated(m: FlatMachine, pfn: int) -> bool:
    return _page_flag(m, pfn, PF_ISOLATED)


def SetPageIsolated(m: FlatMachine, pfn: int, on: bool = True) -> None:
    _set_page_flag(m, pfn, PF_ISOLATED, on)


def PageLocked(m: FlatMachine, pfn: int) -> bool:
    return _page_flag(m, pfn, PF_LOCKED)


def set_page_locked(m: FlatMachine, pfn: int, on: bool) -> None:
    """__SetPageLocked / unlock_page without waiters (waiters are the threads' waits)."""
    _set_page_flag(m, pfn, PF_LOCKED, on)


def PageHuge(m: FlatMachine, pfn: int) -> bool:
    """A hugetlb page."""
    return _page_flag(m, pfn, PF_HUGETLB)


def is_huge_zero_page(m: FlatMachine, pfn: int) -> bool:
    return _page_flag(m, pfn, PF_HUGE_ZERO)


def page_count(m: FlatMachine, pfn: int) -> int:
    """The reference count kept on this record (a THP tail keeps 0: see compound_head)."""
    return m.v[m.L.page(pfn) + PG_REFCOUNT]


def page_ref_add(m: FlatMachine, pfn: int, n: int) -> int:
    """Add ``n`` (negative to drop) and return the new count."""
    at = m.L.page(pfn) + PG_REFCOUNT
    m.v[at] += n
    return m.v[at]


def page_mapcount_raw(m: FlatMachine, pfn: int) -> int:
    """page->_mapcount + 1: this page's own PTE mappings (THP PMD maps are separate)."""
    return m.v[m.L.page(pfn) + PG_MAPCOUNT]


def page_mapcount_add(m: FlatMachine, pfn: int, n: int) -> int:
    at = m.L.page(pfn) + PG_MAPCOUNT
    m.v[at] += n
    return m.v[at]


def folio_pincount(m: FlatMachine, pfn: int) -> int:
    return m.v[m.L.page(pfn) + PG_PINCOUNT]


def folio_pincount_add(m: FlatMachine, pfn: int, n: int) -> int:
    at = m.L.page(pfn) + PG_PINCOUNT
    m.v[at] += n
    return m.v[at]


def compound_mapcount(m: FlatMachine, head: int) -> int:
    return m.v[m.L.page(head) + PG_COMPOUND_MAPCOUNT]


def compound_mapcount_add(m: FlatMachine, head: int, n: int) -> int:
    at = m.L.page(head) + PG_COMPOUND_MAPCOUNT
    m.v[at] += n
    return m.v[at]


def page_to_nid(m: FlatMachine, pfn: int) -> int:
    return m.v[m.L.page(pfn) + PG_NODE]


def page_content(m: FlatMachine, pfn: int) -> int:
    """The token the page holds (model only: what a load would return)."""
    return m.v[m.L.page(pfn) + PG_CONTENT]


def set_page_content(m: FlatMachine, pfn: int, token: int) -> None:
    m.v[m.L.page(pfn) + PG_CONTENT] = token


def page_swap_slot(m: FlatMachine, pfn: int) -> int:
    """page_private() of a swap-cache page: its slot, else NO_SLOT."""
    return m.v[m.L.page(pfn) + PG_PRIVATE]


def PageSwapCache(m: FlatMachine, pfn: int) -> bool:
    return m.v[m.L.page(pfn) + PG_PRIVATE] != NO_SLOT


def set_page_swap_slot(m: FlatMachine, pfn: int, slot: int) -> None:
    m.v[m.L.page(pfn) + PG_PRIVATE] = slot


def page_lru_batch(m: FlatMachine, pfn: int) -> int:
    """The CPU whose LRU-add batch holds the page (and one reference), else NO_CPU."""
    return m.v[m.L.page(pfn) + PG_LRU_BATCH]


def set_page_lru_batch(m: FlatMachine, pfn: int, cpu: int) -> None:
    m.v[m.L.page(pfn) + PG_LRU_BATCH] = cpu


def compound_head(m: FlatMachine, pfn: int) -> int:
    """The THP head of ``pfn``, or ``pfn`` itself when it is not part of a THP."""
    head = m.v[m.L.page(pfn) + PG_HEAD]
    return pfn if head == NO_HEAD else head


def PageTransCompound(m: FlatMachine, pfn: int) -> bool:
    return m.v[m.L.page(pfn) + PG_HEAD] != NO_HEAD


def set_compound_head(m: FlatMachine, pfn: int, head: int) -> None:
    m.v[m.L.page(pfn) + PG_HEAD] = head


def alloc_pfn(m: FlatMachine) -> int:
    """The lowest free pfn that no kernel frame still names.

    The buddy allocator's choice is not modeled, so any free page will do.  A frame
    can still name a page that was freed under it (``do_numa_page`` keeps the pfn and
    the PTE of a page that migrated away, to compare on failure); handing that pfn out
    again would make the dead name alias the new page, and two equivalent states would
    then differ to the checker (docs/design-notes/compact-state.md)."""
    named = None
    for pfn in range(1, m.L.bounds.pages):
        if not m.v[m.L.page(pfn) + PG_FLAGS] & PF_IN_USE:
            if named is None:
                from cowlab.model.state.rename import frame_pfns

                named = set(frame_pfns(m))
            if pfn not in named:
                return pfn
    raise LayoutOverflowError("pages", m.L.bounds.pages, "no free pfn")


def init_page(
    m: FlatMachine,
    pfn: int,
    *,
    node: int,
    content: int,
    refcount: int,
    anon: bool = True,
    lru: bool = False,
    hugetlb: bool = False,
    huge_zero: bool = False,
) -> None:
    """prep_new_page(): a fresh record for an allocated pfn."""
    base = m.L.page(pfn)
    v = m.v
    v[base + PG_FLAGS] = (
        PF_IN_USE
        | (PF_ANON if anon else 0)
        | (PF_LRU if lru else 0)
        | (PF_HUGETLB if hugetlb else 0)
        | (PF_HUGE_ZERO if huge_zero else 0)
    )
    v[base + PG_REFCOUNT] = refcount
    v[base + PG_MAPCOUNT] = 0
    v[base + PG_PINCOUNT] = 0
    v[base + PG_COMPOUND_MAPCOUNT] = 0
    v[base + PG_NODE] = node
    v[base + PG_CONTENT] = content
    v[base + PG_PRIVATE] = NO_SLOT
    v[base + PG_LRU_BATCH] = NO_CPU
    v[base + PG_HEAD] = NO_HEAD


def free_pfn(m: FlatMachine, pfn: int) -> None:
    """The record goes back to its free state (all zero but the 'none' markers)."""
    base = m.L.page(pfn)
    for i in range(PAGE_WORDS):
        m.v[base + i] = FREE_PAGE[i]


def pfns_in_use(m: FlatMachine) -> list[int]:
    """Every allocated pfn, in order (one pass over the page records' flags)."""
    v, first = m.v, m.L.pages + PG_FLAGS
    return [pfn for pfn in range(m.L.bounds.pages) if v[first + pfn * PAGE_WORDS] & PF_IN_USE]
