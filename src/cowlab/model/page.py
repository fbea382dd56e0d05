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
#: not part of a transparent huge page
NO_HEAD = -1
#: subpages of a transparent huge page.  The kernel's PMD THP has 512; every rule
#: depends on counts, not on the size, and four keep states small while still
#: letting a range be "half" or "all but one" of a THP.
HPAGE_NR = 4
#: subpages of a multi-size THP (any size below the PMD's, 16 kB .. 1 MB on x86): the
#: rules depend on "large folio mapped by PTEs", not on the order
MTHP_NR = 2


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
    #: transparent huge page: the pfn of the folio's head (the head's own pfn on the
    #: head), else NO_HEAD.  The folio's refcount, pins, LRU state, lock and
    #: ``compound_mapcount`` live on the head; a tail keeps refcount 0 and its own
    #: PTE mapcount, content and PageAnonExclusive bit
    #: (docs/reference/kernel-behaviour.md#reference-counts-and-mapcounts)
    head: int = NO_HEAD
    #: on a THP head: how many PMDs map the folio (compound_mapcount)
    compound_mapcount: int = 0
    #: the huge zero page (mm/huge_memory.c get_huge_zero_page): like pfn 0 it is
    #: special, so its counts are not kept per mapping
    huge_zero: bool = False

    @property
    def maybe_dma_pinned(self) -> bool:
        """page_maybe_dma_pinned(): for a small page, a refcount of at least the bias;
        for a large folio, its separate pin count."""
        if self.huge or self.head != NO_HEAD:
            return self.pins > 0
        return self.refcount >= GUP_PIN_COUNTING_BIAS

    @property
    def thp(self) -> bool:
        return self.head != NO_HEAD

    @property
    def in_swapcache(self) -> bool:
        return self.swapcache != NO_SLOT

    @property
    def in_lru_batch(self) -> bool:
        return self.lru_batch != NO_CPU


ZERO_PAGE = Page(node=0, content=0, anon=False)
