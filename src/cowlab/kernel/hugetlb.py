"""hugetlb (mm/hugetlb.c): faults, the hugetlb COW (hugetlb_wp, formerly hugetlb_cow)
and fork's copy_hugetlb_page_range.  Each page of a hugetlb region is one huge page.

hugetlb keeps its own rules (docs/reference/kernel-behaviour.md#hugetlb-write-fault-and-fork):
the write fault reuses an anon huge page mapped once (mapcount, never refcount: GUP
references are ignored, which is why cow.c marks the vmsplice cases XFAIL on hugetlb),
6c287605fd56 adds the PageAnonExclusive shortcut, and fork copies a maybe-pinned page
for the child only from 4eae4efa2c29 (v5.12).  Huge pages are not on the LRU, not
swapped and not NUMA-balanced.
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.pages import get_page, page_add_rmap, page_maybe_dma_pinned, page_remove_rmap, put_page
from cowlab.kernel.pgtable import maybe_mkwrite
from cowlab.model import Vma
from cowlab.model import state as S
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
from cowlab.model.state import FlatMachine
from cowlab.model.state.convert import vma_at


def alloc_hugetlb_folio(c: Ctx, m: FlatMachine, node: int, content: int) -> int:
    """A new huge page on ``node`` holding ``content``, with the caller's reference and
    mapping (exclusive from 6c287605fd56); returns its pfn."""
    pfn = S.alloc_pfn(m)
    S.init_page(m, pfn, node=node, content=content, refcount=1, hugetlb=True)
    S.page_mapcount_add(m, pfn, 1)
    if c.r.anon_exclusive:
        S.SetPageAnonExclusive(m, pfn)
    return pfn


def hugetlb_fault(
    c: Ctx, m: FlatMachine, ti: int, pid: int, vpn: int, *, write: bool, unshare: bool
) -> tuple[FlatMachine, str]:
    vma = vma_at(m, pid, vpn)
    assert vma is not None
    pte = S.pte_at(m, pid, vpn)
    if pte_none(pte):
        return _hugetlb_no_page(c, m, ti, pid, vpn, vma, write)
    assert pte_present(pte)
    if (write or unshare) and not pte_write(pte):
        return hugetlb_wp(c, m, ti, pid, vpn, vma, pte, unshare=unshare)
    return m, "done"


def _hugetlb_no_page(
    c: Ctx, m: FlatMachine, ti: int, pid: int, vpn: int, vma: Vma, write: bool
) -> tuple[FlatMachine, str]:
    """Allocate a zeroed huge page; a private mapping maps it read-only unless the fault
    writes (then hugetlb_wp reuses it at once: it is exclusive).  A mapping of a
    hugetlbfs file maps the file's huge page instead."""
    if vma.file:
        return _hugetlb_no_page_file(c, m, ti, pid, vpn, vma, write)
    node = S.task_node(m, ti)
    pfn = alloc_hugetlb_folio(c, m, node, 0)
    writable = write and vma.writable
    c.decide(
        "hugetlb_no_page",
        f"new huge page pfn {pfn} on node {node}, {'writable' if writable else 'read-only'}",
    )
    pte = pfn_pte(pfn, PAGE_READONLY)
    if write:
        pte = maybe_mkwrite(pte_mkdirty(pte), vma)
    S.set_pte_at(m, pid, vpn, pte)
    return m, "done"


def _hugetlb_no_page_file(
    c: Ctx, m: FlatMachine, ti: int, pid: int, vpn: int, vma: Vma, write: bool
) -> tuple[FlatMachine, str]:
    """hugetlb_no_page() on a hugetlbfs file: map its page-cache huge page, writable in
    a shared writable mapping (hugetlbfs has no dirty tracking); in a private mapping
    read-only, and a write fault goes on to hugetlb_wp at once, which copies it."""
    cached = S.file_page_pfn(m, S.file_named(m, vma.file), vma.pgoff + vpn - vma.start)
    get_page(m, cached)
    page_add_rmap(m, cached)
    writable = vma.shared and vma.writable
    pte = pfn_pte(cached, PAGE_READONLY)
    if writable:
        pte = maybe_mkwrite(pte_mkdirty(pte) if write else pte, vma)
    c.decide(
        "hugetlb_no_page",
        f"map huge page-cache pfn {cached} of {vma.file} {'writable' if writable else 'read-only'}",
    )
    S.set_pte_at(m, pid, vpn, pte)
    if write and not vma.shared:
        return hugetlb_wp(c, m, ti, pid, vpn, vma, pte)
    return m, "done"


def hugetlb_wp(
    c: Ctx, m: FlatMachine, ti: int, pid: int, vpn: int, vma: Vma, pte: pte_t, *, unshare: bool = False
) -> tuple[FlatMachine, str]:
    """Reuse an anon huge page that is exclusive (6c287605fd56) or mapped once, else copy;
    in a shared mapping make the PTE writable, never copy."""
    fn = "hugetlb_wp"
    pfn = pte_pfn(pte)
    if vma.shared:
        c.decide(fn, f"shared mapping -> pfn {pfn} writable in place")
        S.set_pte_at(m, pid, vpn, maybe_mkwrite(pte_mkdirty(pte), vma))
        return m, "write"
    if c.r.anon_exclusive and S.PageAnonExclusive(m, pfn):
        why, rule, reuse = "PageAnonExclusive", "anon_exclusive", True
    else:
        mapcount = S.page_mapcount_raw(m, pfn)
        why, rule = f"mapcount {mapcount}", ""
        reuse = S.PageAnon(m, pfn) and mapcount == 1
    if reuse:
        c.decide(fn, f"{why} -> reuse pfn {pfn}", rule)
        if c.r.anon_exclusive:
            S.SetPageAnonExclusive(m, pfn)
        if unshare:
            return m, "done"
        S.set_pte_at(m, pid, vpn, maybe_mkwrite(pte_mkdirty(pte), vma))
        return m, "write"
    new = alloc_hugetlb_folio(c, m, S.task_node(m, ti), S.page_content(m, pfn))
    c.decide(fn, f"{why} -> copy pfn {pfn} to new huge pfn {new}", rule)
    page_remove_rmap(m, pfn)
    put_page(c, m, pfn)
    new_pte = pfn_pte(new, PAGE_READONLY)
    if not unshare:
        new_pte = maybe_mkwrite(pte_mkdirty(new_pte), vma)
    S.set_pte_at(m, pid, vpn, new_pte)
    return m, "write"


def copy_hugetlb_pte(
    c: Ctx, m: FlatMachine, parent: int, vma: Vma, vpn: int, pte: pte_t, node: int
) -> tuple[FlatMachine, pte_t]:
    """fork: share the huge page (write-protecting both in a COW mapping), or copy it for
    the child if it may be pinned (4eae4efa2c29; from 6c287605fd56 only if exclusive).
    ``parent`` is the parent's pid."""
    fn = "copy_hugetlb_page_range"
    assert pte_present(pte)
    pfn = pte_pfn(pte)
    r = c.r
    pinned = page_maybe_dma_pinned(m, pfn) and (S.mm_has_pinned(m, parent) or not r.mm_has_pinned)
    if (
        r.hugetlb_fork_early_cow
        and vma.is_cow_mapping
        and S.PageAnon(m, pfn)
        and pinned
        and not (r.anon_exclusive and not S.PageAnonExclusive(m, pfn))
    ):
        new = alloc_hugetlb_folio(c, m, node, S.page_content(m, pfn))
        c.decide(
            fn, f"pfn {pfn} maybe pinned -> copy for the child now (pfn {new})", "hugetlb_fork_early_cow"
        )
        return m, maybe_mkwrite(pte_mkdirty(pfn_pte(new, PAGE_READONLY)), vma)
    get_page(m, pfn)
    page_add_rmap(m, pfn, exclusive=False if r.anon_exclusive else None)
    if vma.is_cow_mapping and pte_write(pte):
        S.set_pte_at(m, parent, vpn, pte_wrprotect(pte))
        c.decide(
            fn,
            f"vpn {vpn:#x}: share huge pfn {pfn}, write-protect parent and child",
            "hugetlb_fork_early_cow",
        )
        return m, pte_wrprotect(pte)
    c.decide(fn, f"vpn {vpn:#x}: share huge pfn {pfn}")
    return m, pte
