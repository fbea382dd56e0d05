"""Physical pages (struct page / small folio) as immutable records.

A page is identified by its pfn, the index in ``Machine.pages``.  pfn 0 is the
shared zero page: it is special (``vm_normal_page()`` returns no page for it), so
no reference or map count is kept for it.
"""

from __future__ import annotations

from typing import NamedTuple

#: ``GUP_PIN_COUNTING_BIAS``: a FOLL_PIN on a small page adds this to its refcount
#: (3faa52c03f44 "mm/gup: track FOLL_PIN pages", v5.7; include/linux/mm.h).
GUP_PIN_COUNTING_BIAS = 1024

ZERO_PFN = 0
NO_SLOT = -1
NO_CPU = -1


class Page(NamedTuple):
    """One small page.

    ``refcount`` is the kernel's page_count(); every unit of it is owned by
    something visible in the machine (see ``cowlab.invariants.sanity``).
    ``pins`` counts FOLL_PIN pins only to let the sanity check explain refcount;
    the kernel paths look at ``refcount`` as the kernel does.
    """

    node: int
    content: int = 0
    refcount: int = 0
    mapcount: int = 0
    pins: int = 0
    anon: bool = True
    #: PG_anon_exclusive (6c287605fd56, v5.19)
    exclusive: bool = False
    #: swap slot when the page is in the swap cache, else NO_SLOT
    swapcache: int = NO_SLOT
    #: CPU whose per-CPU LRU-add batch holds the page (and one reference), else NO_CPU
    lru_batch: int = NO_CPU
    #: PageLRU: on an LRU list (no reference held for that)
    lru: bool = False
    #: isolated from the LRU by migration or reclaim (one reference held for that)
    isolated: bool = False
    #: PG_locked
    locked: bool = False
    #: a hugetlb page (a large folio: a pin adds one reference and counts in ``pins``)
    huge: bool = False

    @property
    def maybe_dma_pinned(self) -> bool:
        """page_maybe_dma_pinned(): for a small page, a refcount of at least the bias;
        for a large folio, its separate pin count."""
        if self.huge:
            return self.pins > 0
        return self.refcount >= GUP_PIN_COUNTING_BIAS

    @property
    def in_swapcache(self) -> bool:
        return self.swapcache != NO_SLOT

    @property
    def in_lru_batch(self) -> bool:
        return self.lru_batch != NO_CPU


ZERO_PAGE = Page(node=0, content=0, anon=False)
