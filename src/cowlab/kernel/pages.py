"""Page references and allocation (mm/page_alloc.c, include/linux/mm.h get/put_page)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.model import GUP_PIN_COUNTING_BIAS, NO_CPU, ZERO_PFN, Machine
from cowlab.model import state as S
from cowlab.model.state.convert import page_view


def folio_pfn(m: Machine, pfn: int) -> int:
    """page_folio(): the pfn holding the counts of ``pfn``'s folio (its THP head)."""
    _check_in_use(m, pfn)
    return S.compound_head(m, pfn)


def folio_pages(m: Machine, head: int) -> list[int]:
    """Every pfn of the THP whose head is ``head`` (head first)."""
    return [head] + [
        pfn
        for pfn in S.pfns_in_use(m)
        if pfn != head and S.PageTransCompound(m, pfn) and S.compound_head(m, pfn) == head
    ]


def folio_total_mapcount(m: Machine, head: int) -> int:
    """total_mapcount(): PTE maps of every subpage plus the PMD maps."""
    return sum(S.page_mapcount_raw(m, p) for p in folio_pages(m, head)) + S.compound_mapcount(m, head)


def folio_mapped(m: Machine, pfn: int) -> bool:
    """folio_mapped(): any mapping of the page, or of any page of its THP."""
    if S.PageTransCompound(m, pfn):
        return folio_total_mapcount(m, S.compound_head(m, pfn)) > 0
    return S.page_mapcount_raw(m, pfn) > 0


def folio_likely_mapped_shared(m: Machine, pfn: int, *, by_mm: bool) -> bool:
    """Is the folio of ``pfn`` (maybe) mapped by more than one mm?  A small page: its
    mapcount is above 1.  A large folio, from 003fde4492c8 (``by_mm``, v6.15,
    folio_maybe_mapped_shared: the MM owner slots): another mm maps it; before
    (eefb9b2725e3, v6.10): a PMD mapping or more mappings than pages say yes, a total of
    one says no, else the first subpage's mapcount decides (a partially mapped folio
    shared by two mms can pass for exclusive)."""
    head = folio_pfn(m, pfn)
    if not S.PageTransCompound(m, head):
        return S.page_mapcount_raw(m, head) > 1
    if by_mm:
        from cowlab.kernel.pgtable import folio_mms

        return len(folio_mms(m, frozenset(folio_pages(m, head)))) > 1
    total = folio_total_mapcount(m, head)
    if total <= 1:
        return False
    if S.compound_mapcount(m, head) or total > len(folio_pages(m, head)):
        return True
    return page_mapcount(m, head) > 1


def page_mapcount(m: Machine, pfn: int) -> int:
    """page_mapcount(): this page's PTE mappings plus the PMD mappings of its THP."""
    _check_in_use(m, pfn)
    if not S.PageTransCompound(m, pfn):
        return S.page_mapcount_raw(m, pfn)
    return S.page_mapcount_raw(m, pfn) + S.compound_mapcount(m, S.compound_head(m, pfn))


def page_maybe_dma_pinned(m: Machine, pfn: int) -> bool:
    """page_maybe_dma_pinned() of a page or of a THP subpage: a large folio (hugetlb, THP)
    keeps a pin count; a small page has a refcount of at least GUP_PIN_COUNTING_BIAS."""
    head = folio_pfn(m, pfn)
    if S.PageHuge(m, head) or S.PageTransCompound(m, head):
        return S.folio_pincount(m, head) > 0
    return S.page_count(m, head) >= GUP_PIN_COUNTING_BIAS


def no_struct_page(m: Machine, pfn: int) -> bool:
    """The shared zero page and the huge zero page: mapped without per-mapping counts."""
    return pfn == ZERO_PFN or S.is_huge_zero_page(m, pfn)


def get_page(m: Machine, pfn: int, n: int = 1) -> Machine:
    """A reference on the page (on a THP subpage: on its folio)."""
    S.page_ref_add(m, folio_pfn(m, pfn), n)
    return m


def put_page(c: Ctx, m: Machine, pfn: int, n: int = 1) -> Machine:
    """Drop ``n`` references; the page (a THP: all its subpages) is freed when none is
    left."""
    pfn = folio_pfn(m, pfn)
    refcount = S.page_count(m, pfn) - n
    if refcount < 0:
        raise ModelBugError(f"refcount of pfn {pfn} below zero")
    if refcount == 0:
        if (
            S.page_mapcount_raw(m, pfn)
            or S.PageSwapCache(m, pfn)
            or S.page_lru_batch(m, pfn) != NO_CPU
            or S.PageIsolated(m, pfn)
        ):
            raise ModelBugError(f"pfn {pfn} freed while still in use: {page_view(m, pfn)}")
        if S.PageTransCompound(m, pfn):
            return _free_folio(c, m, pfn)
        c.note("put_page", f"pfn {pfn} freed")
        S.free_pfn(m, pfn)
        return m
    S.page_ref_add(m, pfn, -n)
    return m


def alloc_page(m: Machine, node: int, content: int) -> tuple[Machine, int]:
    """A new anon page on ``node`` holding ``content``, with one reference (the caller's);
    the caller reports it."""
    pfn = S.alloc_pfn(m)
    S.init_page(m, pfn, node=node, content=content, refcount=1)
    return m, pfn


def page_add_rmap(m: Machine, pfn: int, *, exclusive: bool | None = None) -> Machine:
    """One more present mapping (its reference is taken by the caller)."""
    _check_in_use(m, pfn)
    S.page_mapcount_add(m, pfn, 1)
    if exclusive is True:
        S.SetPageAnonExclusive(m, pfn)
    elif exclusive is False:
        S.ClearPageAnonExclusive(m, pfn)
    return m


def page_remove_rmap(m: Machine, pfn: int) -> Machine:
    _check_in_use(m, pfn)
    if S.page_mapcount_raw(m, pfn) <= 0:
        raise ModelBugError(f"mapcount of pfn {pfn} below zero")
    S.page_mapcount_add(m, pfn, -1)
    return m


def _free_folio(c: Ctx, m: Machine, head: int) -> Machine:
    if S.compound_mapcount(m, head):
        raise ModelBugError(f"THP {head} freed while PMD-mapped")
    pfns = folio_pages(m, head)
    for pfn in pfns:
        if S.page_mapcount_raw(m, pfn):
            raise ModelBugError(f"THP subpage {pfn} freed while mapped")
        S.free_pfn(m, pfn)
    c.note("put_page", f"THP {', '.join(map(str, pfns))} freed")
    return m


def _check_in_use(m: Machine, pfn: int) -> None:
    """The record machine raised KeyError for a free pfn; so does the vector."""
    if not 0 <= pfn < m.L.bounds.pages or not S.page_in_use(m, pfn):  # type: ignore[attr-defined]
        raise KeyError(f"pfn {pfn} is free")
