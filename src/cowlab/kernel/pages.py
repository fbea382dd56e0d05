"""Page references and allocation (mm/page_alloc.c, include/linux/mm.h get/put_page)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.model import NO_HEAD, ZERO_PFN, Machine, Page


def folio_pfn(m: Machine, pfn: int) -> int:
    """page_folio(): the pfn holding the counts of ``pfn``'s folio (its THP head)."""
    head = m.page(pfn).head
    return pfn if head == NO_HEAD else head


def folio_of(m: Machine, pfn: int) -> Page:
    page = m.page(pfn)
    return page if page.head == NO_HEAD else m.page(page.head)


def folio_pages(m: Machine, head: int) -> list[int]:
    """Every pfn of the THP whose head is ``head`` (head first)."""
    return [head] + [pfn for pfn, page in enumerate(m.pages)
                     if page is not None and page.head == head and pfn != head]


def page_mapcount(m: Machine, pfn: int) -> int:
    """page_mapcount(): this page's PTE mappings plus the PMD mappings of its THP."""
    page = m.page(pfn)
    if page.head == NO_HEAD:
        return page.mapcount
    return page.mapcount + m.page(page.head).compound_mapcount


def page_maybe_dma_pinned(m: Machine, pfn: int) -> bool:
    """page_maybe_dma_pinned() of a page or of a THP subpage (its folio's pincount)."""
    return folio_of(m, pfn).maybe_dma_pinned


def no_struct_page(m: Machine, pfn: int) -> bool:
    """The shared zero page and the huge zero page: mapped without per-mapping counts."""
    return pfn == ZERO_PFN or m.page(pfn).huge_zero


def update_page(m: Machine, pfn: int, **changes: object) -> Machine:
    page = m.pages[pfn]
    if page is None:
        raise ModelBugError(f"update of free pfn {pfn}")
    return m.with_page(pfn, page._replace(**changes))


def get_page(m: Machine, pfn: int, n: int = 1) -> Machine:
    """A reference on the page (on a THP subpage: on its folio)."""
    pfn = folio_pfn(m, pfn)
    page = m.page(pfn)
    return m.with_page(pfn, page._replace(refcount=page.refcount + n))


def put_page(c: Ctx, m: Machine, pfn: int, n: int = 1) -> Machine:
    """Drop ``n`` references; the page (a THP: all its subpages) is freed when none is
    left."""
    pfn = folio_pfn(m, pfn)
    page = m.page(pfn)
    refcount = page.refcount - n
    if refcount < 0:
        raise ModelBugError(f"refcount of pfn {pfn} below zero")
    if refcount == 0:
        if page.mapcount or page.in_swapcache or page.in_lru_batch or page.isolated:
            raise ModelBugError(f"pfn {pfn} freed while still in use: {page}")
        if page.thp:
            return _free_folio(c, m, pfn)
        c.note("put_page", f"pfn {pfn} freed")
        return m.with_page(pfn, None)
    return m.with_page(pfn, page._replace(refcount=refcount))


def alloc_page(m: Machine, node: int, content: int) -> tuple[Machine, int]:
    """A new anon page on ``node`` holding ``content``, with one reference (the caller's);
    the caller reports it."""
    return m.with_new_page(Page(node=node, content=content, refcount=1))


def page_add_rmap(m: Machine, pfn: int, *, exclusive: bool | None = None) -> Machine:
    """One more present mapping (its reference is taken by the caller)."""
    page = m.page(pfn)
    changes: dict[str, object] = {"mapcount": page.mapcount + 1}
    if exclusive is not None:
        changes["exclusive"] = exclusive
    return m.with_page(pfn, page._replace(**changes))


def page_remove_rmap(m: Machine, pfn: int) -> Machine:
    page = m.page(pfn)
    if page.mapcount <= 0:
        raise ModelBugError(f"mapcount of pfn {pfn} below zero")
    return m.with_page(pfn, page._replace(mapcount=page.mapcount - 1))


def _free_folio(c: Ctx, m: Machine, head: int) -> Machine:
    if m.page(head).compound_mapcount:
        raise ModelBugError(f"THP {head} freed while PMD-mapped")
    pfns = folio_pages(m, head)
    for pfn in pfns:
        if m.page(pfn).mapcount:
            raise ModelBugError(f"THP subpage {pfn} freed while mapped")
        m = m.with_page(pfn, None)
    c.note("put_page", f"THP {', '.join(map(str, pfns))} freed")
    return m
