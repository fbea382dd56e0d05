"""hugetlb (mm/hugetlb.c): faults, the hugetlb COW (hugetlb_wp, formerly hugetlb_cow)
and fork's copy_hugetlb_page_range.  Each page of a hugetlb region is one huge page.

hugetlb keeps its own rules (kernel-semantics.md §2.1, §2.3): the write fault reuses
an anon huge page mapped once (mapcount, never refcount: GUP references are ignored,
which is why cow.c marks the vmsplice cases XFAIL on hugetlb), 6c287605fd56 adds the
PageAnonExclusive shortcut, and fork copies a maybe-pinned page for the child only
from 4eae4efa2c29 (v5.12).  Huge pages are not on the LRU, not swapped and not
NUMA-balanced.
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.pages import get_page, page_add_rmap, page_remove_rmap, put_page
from cowlab.kernel.pgtable import maybe_mkwrite, set_pte
from cowlab.model import Machine, Page, Process, Vma
from cowlab.model.pte import (
    PAGE_READONLY,
    pfn_pte,
    pte_mkdirty,
    pte_none,
    pte_pfn,
    pte_present,
    pte_t,
    pte_write,
    pte_wrprotect,
)


def hugetlb_fault(c: Ctx, m: Machine, ti: int, pid: int, vpn: int, *, write: bool,
                  unshare: bool) -> tuple[Machine, str]:
    vma = m.processes[pid].vma_at(vpn)
    assert vma is not None
    pte = m.processes[pid].pte(vpn)
    if pte_none(pte):
        return _hugetlb_no_page(c, m, ti, pid, vpn, vma, write)
    assert pte_present(pte)
    if (write or unshare) and not pte_write(pte):
        return hugetlb_wp(c, m, ti, pid, vpn, vma, pte, unshare=unshare)
    return m, "done"


def _hugetlb_no_page(c: Ctx, m: Machine, ti: int, pid: int, vpn: int, vma: Vma, write: bool
                     ) -> tuple[Machine, str]:
    """Allocate a zeroed huge page; a private mapping maps it read-only unless the fault
    writes (then hugetlb_wp reuses it at once: it is exclusive)."""
    node = m.threads[ti].node
    m, pfn = m.with_new_page(Page(node=node, content=0, refcount=1, mapcount=1, huge=True,
                                  exclusive=c.r.anon_exclusive))
    writable = write and vma.writable
    c.decide("hugetlb_no_page", f"new huge page pfn {pfn} on node {node}, "
             f"{'writable' if writable else 'read-only'}")
    pte = pfn_pte(pfn, PAGE_READONLY)
    if write:
        pte = maybe_mkwrite(pte_mkdirty(pte), vma)
    return set_pte(m, pid, vpn, pte), "done"


def hugetlb_wp(c: Ctx, m: Machine, ti: int, pid: int, vpn: int, vma: Vma, pte: pte_t, *,
               unshare: bool = False) -> tuple[Machine, str]:
    """Reuse an anon huge page that is exclusive (6c287605fd56) or mapped once, else copy."""
    fn = "hugetlb_wp"
    pfn = pte_pfn(pte)
    page = m.page(pfn)
    if c.r.anon_exclusive and page.exclusive:
        why, rule, reuse = "PageAnonExclusive", "anon_exclusive", True
    else:
        why, rule = f"mapcount {page.mapcount}", ""
        reuse = page.anon and page.mapcount == 1
    if reuse:
        c.decide(fn, f"{why} -> reuse pfn {pfn}", rule)
        if c.r.anon_exclusive:
            m = m.with_page(pfn, m.page(pfn)._replace(exclusive=True))
        if unshare:
            return m, "done"
        return set_pte(m, pid, vpn, maybe_mkwrite(pte_mkdirty(pte), vma)), "write"
    node = m.threads[ti].node
    m, new = m.with_new_page(Page(node=node, content=page.content, refcount=1, mapcount=1,
                                  huge=True, exclusive=c.r.anon_exclusive))
    c.decide(fn, f"{why} -> copy pfn {pfn} to new huge pfn {new}", rule)
    m = page_remove_rmap(m, pfn)
    m = put_page(c, m, pfn)
    new_pte = pfn_pte(new, PAGE_READONLY)
    if not unshare:
        new_pte = maybe_mkwrite(pte_mkdirty(new_pte), vma)
    return set_pte(m, pid, vpn, new_pte), "write"


def copy_hugetlb_pte(c: Ctx, m: Machine, parent: Process, vma: Vma, vpn: int, pte: pte_t,
                     node: int) -> tuple[Machine, pte_t]:
    """fork: share the huge page (write-protecting both in a COW mapping), or copy it for
    the child if it may be pinned (4eae4efa2c29; from 6c287605fd56 only if exclusive)."""
    fn = "copy_hugetlb_page_range"
    assert pte_present(pte)
    pfn = pte_pfn(pte)
    page = m.page(pfn)
    r = c.r
    pinned = page.maybe_dma_pinned and (parent.has_pinned or not r.mm_has_pinned)
    if (r.hugetlb_fork_early_cow and vma.is_cow_mapping and page.anon and pinned
            and not (r.anon_exclusive and not page.exclusive)):
        m, new = m.with_new_page(Page(node=node, content=page.content, refcount=1, mapcount=1,
                                      huge=True, exclusive=r.anon_exclusive))
        c.decide(fn, f"pfn {pfn} maybe pinned -> copy for the child now (pfn {new})",
                 "hugetlb_fork_early_cow")
        return m, maybe_mkwrite(pte_mkdirty(pfn_pte(new, PAGE_READONLY)), vma)
    m = get_page(m, pfn)
    m = page_add_rmap(m, pfn, exclusive=False if r.anon_exclusive else None)
    if vma.is_cow_mapping and pte_write(pte):
        m = set_pte(m, parent.pid, vpn, pte_wrprotect(pte))
        c.decide(fn, f"vpn {vpn:#x}: share huge pfn {pfn}, write-protect parent and child",
                 "hugetlb_fork_early_cow")
        return m, pte_wrprotect(pte)
    c.decide(fn, f"vpn {vpn:#x}: share huge pfn {pfn}")
    return m, pte
