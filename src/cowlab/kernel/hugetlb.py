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
from cowlab.kernel.pgtable import set_pte
from cowlab.model import Machine, Page, PresentPte, Process, Pte, Vma


def hugetlb_fault(c: Ctx, m: Machine, ti: int, pid: int, vpn: int, *, write: bool,
                  unshare: bool) -> tuple[Machine, str]:
    vma = m.processes[pid].vma_at(vpn)
    assert vma is not None
    pte = m.processes[pid].pte(vpn)
    if pte is None:
        return _hugetlb_no_page(c, m, ti, pid, vpn, vma, write)
    assert type(pte) is PresentPte
    if (write or unshare) and not pte.write:
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
    return set_pte(m, pid, vpn, PresentPte(pfn, write=writable, dirty=write)), "done"


def hugetlb_wp(c: Ctx, m: Machine, ti: int, pid: int, vpn: int, vma: Vma, pte: PresentPte, *,
               unshare: bool = False) -> tuple[Machine, str]:
    """Reuse an anon huge page that is exclusive (6c287605fd56) or mapped once, else copy."""
    fn = "hugetlb_wp"
    page = m.page(pte.pfn)
    if c.r.anon_exclusive and page.exclusive:
        why, rule, reuse = "PageAnonExclusive", "anon_exclusive", True
    else:
        why, rule = f"mapcount {page.mapcount}", ""
        reuse = page.anon and page.mapcount == 1
    if reuse:
        c.decide(fn, f"{why} -> reuse pfn {pte.pfn}", rule)
        if c.r.anon_exclusive:
            m = m.with_page(pte.pfn, m.page(pte.pfn)._replace(exclusive=True))
        if unshare:
            return m, "done"
        return set_pte(m, pid, vpn, pte._replace(write=vma.writable, dirty=True)), "write"
    node = m.threads[ti].node
    m, new = m.with_new_page(Page(node=node, content=page.content, refcount=1, mapcount=1,
                                  huge=True, exclusive=c.r.anon_exclusive))
    c.decide(fn, f"{why} -> copy pfn {pte.pfn} to new huge pfn {new}", rule)
    m = page_remove_rmap(m, pte.pfn)
    m = put_page(c, m, pte.pfn)
    new_pte = PresentPte(new, write=vma.writable and not unshare, dirty=not unshare)
    return set_pte(m, pid, vpn, new_pte), "write"


def copy_hugetlb_pte(c: Ctx, m: Machine, parent: Process, vma: Vma, vpn: int, pte: Pte,
                     node: int) -> tuple[Machine, Pte]:
    """fork: share the huge page (write-protecting both in a COW mapping), or copy it for
    the child if it may be pinned (4eae4efa2c29; from 6c287605fd56 only if exclusive)."""
    fn = "copy_hugetlb_page_range"
    assert type(pte) is PresentPte
    page = m.page(pte.pfn)
    r = c.r
    pinned = page.maybe_dma_pinned and (parent.has_pinned or not r.mm_has_pinned)
    if (r.hugetlb_fork_early_cow and vma.is_cow_mapping and page.anon and pinned
            and not (r.anon_exclusive and not page.exclusive)):
        m, new = m.with_new_page(Page(node=node, content=page.content, refcount=1, mapcount=1,
                                      huge=True, exclusive=r.anon_exclusive))
        c.decide(fn, f"pfn {pte.pfn} maybe pinned -> copy for the child now (pfn {new})",
                 "hugetlb_fork_early_cow")
        return m, PresentPte(new, write=vma.writable, dirty=True)
    m = get_page(m, pte.pfn)
    m = page_add_rmap(m, pte.pfn, exclusive=False if r.anon_exclusive else None)
    if vma.is_cow_mapping and pte.write:
        m = set_pte(m, parent.pid, vpn, pte._replace(write=False))
        c.decide(fn, f"vpn {vpn:#x}: share huge pfn {pte.pfn}, write-protect parent and child",
                 "hugetlb_fork_early_cow")
        return m, pte._replace(write=False)
    c.decide(fn, f"vpn {vpn:#x}: share huge pfn {pte.pfn}")
    return m, pte
