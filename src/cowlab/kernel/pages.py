"""Page references and allocation (mm/page_alloc.c, include/linux/mm.h get/put_page)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.model import Machine, Page


def update_page(m: Machine, pfn: int, **changes: object) -> Machine:
    page = m.pages[pfn]
    if page is None:
        raise ModelBugError(f"update of free pfn {pfn}")
    return m.with_page(pfn, page._replace(**changes))


def get_page(m: Machine, pfn: int, n: int = 1) -> Machine:
    page = m.page(pfn)
    return m.with_page(pfn, page._replace(refcount=page.refcount + n))


def put_page(c: Ctx, m: Machine, pfn: int, n: int = 1) -> Machine:
    """Drop ``n`` references; the page is freed when none is left."""
    page = m.page(pfn)
    refcount = page.refcount - n
    if refcount < 0:
        raise ModelBugError(f"refcount of pfn {pfn} below zero")
    if refcount == 0:
        if page.mapcount or page.in_swapcache or page.in_lru_batch or page.isolated:
            raise ModelBugError(f"pfn {pfn} freed while still in use: {page}")
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
