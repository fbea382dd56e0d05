"""Per-CPU LRU-add batches and LRU isolation (mm/swap.c, mm/vmscan.c isolate_lru_page)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.pages import put_page
from cowlab.model import NO_CPU, Machine
from cowlab.model import state as S


def lru_cache_add(m: Machine, pfn: int, cpu: int) -> Machine:
    """A new page waits in ``cpu``'s LRU-add batch, which holds a reference until drained."""
    S.set_page_lru_batch(m, pfn, cpu)
    S.page_ref_add(m, pfn, 1)
    return m


def lru_add_drain(c: Ctx, m: Machine, cpu: int | None, fn: str = "lru_add_drain") -> Machine:
    """Move batched pages of ``cpu`` (every CPU if None) onto the LRU, dropping the batch refs."""
    for pfn in list(S.pfns_in_use(m)):
        batch = S.page_lru_batch(m, pfn)
        if batch == NO_CPU:
            continue
        if cpu is not None and batch != cpu:
            continue
        S.set_page_lru_batch(m, pfn, NO_CPU)
        S.SetPageLRU(m, pfn)
        put_page(c, m, pfn)
        c.note(fn, f"pfn {pfn} moved from the CPU {batch} batch to the LRU")
    return m


def isolate_lru_page(c: Ctx, m: Machine, pfn: int, fn: str) -> tuple[Machine, bool]:
    """Take the page off the LRU with a reference; fails unless PageLRU (a page still in
    an LRU-add batch is not on the LRU yet)."""
    if not S.PageLRU(m, pfn):
        why = "in an LRU-add batch" if S.page_lru_batch(m, pfn) != NO_CPU else "not on the LRU"
        c.decide(fn, f"isolate_lru_page(pfn {pfn}) fails: page {why}")
        return m, False
    S.SetPageLRU(m, pfn, False)
    S.SetPageIsolated(m, pfn)
    S.page_ref_add(m, pfn, 1)
    return m, True


def putback_lru_page(c: Ctx, m: Machine, pfn: int) -> Machine:
    S.SetPageLRU(m, pfn)
    S.SetPageIsolated(m, pfn, False)
    return put_page(c, m, pfn)
