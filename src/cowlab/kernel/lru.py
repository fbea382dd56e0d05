"""Per-CPU LRU-add batches and LRU isolation (mm/swap.c, mm/vmscan.c isolate_lru_page)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.pages import put_page
from cowlab.model import NO_CPU, Machine


def lru_cache_add(m: Machine, pfn: int, cpu: int) -> Machine:
    """A new page waits in ``cpu``'s LRU-add batch, which holds a reference until drained."""
    page = m.page(pfn)
    return m.with_page(pfn, page._replace(lru_batch=cpu, refcount=page.refcount + 1))


def lru_add_drain(c: Ctx, m: Machine, cpu: int | None, fn: str = "lru_add_drain") -> Machine:
    """Move batched pages of ``cpu`` (every CPU if None) onto the LRU, dropping the batch refs."""
    for pfn, page in enumerate(m.pages):
        if page is None or page.lru_batch == NO_CPU:
            continue
        if cpu is not None and page.lru_batch != cpu:
            continue
        m = m.with_page(pfn, page._replace(lru_batch=NO_CPU, lru=True))
        m = put_page(c, m, pfn)
        c.note(fn, f"pfn {pfn} moved from the CPU {page.lru_batch} batch to the LRU")
    return m


def isolate_lru_page(c: Ctx, m: Machine, pfn: int, fn: str) -> tuple[Machine, bool]:
    """Take the page off the LRU with a reference; fails unless PageLRU (a page still in
    an LRU-add batch is not on the LRU yet)."""
    page = m.page(pfn)
    if not page.lru:
        why = "in an LRU-add batch" if page.in_lru_batch else "not on the LRU"
        c.decide(fn, f"isolate_lru_page(pfn {pfn}) fails: page {why}")
        return m, False
    m = m.with_page(pfn, page._replace(lru=False, isolated=True, refcount=page.refcount + 1))
    return m, True


def putback_lru_page(c: Ctx, m: Machine, pfn: int) -> Machine:
    page = m.page(pfn)
    m = m.with_page(pfn, page._replace(lru=True, isolated=False))
    return put_page(c, m, pfn)
