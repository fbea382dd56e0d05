"""change_protection() and mprotect() (mm/mprotect.c).

change_pte_range() serves both mprotect and the NUMA scanner (prot_numa).  For a
migration entry it does the same in both: a writable entry becomes readable
("a protection check is difficult so just be safe and disable write"; v5.15 and
current mm/mprotect.c), readable_exclusive for anon pages from 6c287605fd56.
That downgrade, racing a migration that then fails, is how a pinned page's PTE
loses its write bit in the Gaudi bug (kernel-semantics.md §3.3).
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.pgtable import set_pte
from cowlab.kernel.vma import range_vmas
from cowlab.model import (
    MIGRATION_READABLE,
    MIGRATION_READABLE_EXCLUSIVE,
    MIGRATION_WRITABLE,
    NO_NODE,
    VM_DONTCOPY,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_SOFTDIRTY,
    VM_WIPEONFORK,
    ZERO_PFN,
    Machine,
    MigrationEntry,
    PresentPte,
    Vma,
    pte_write,
)


def _numa_skip(c: Ctx, m: Machine, vma: Vma, pte: PresentPte, target_node: int) -> str | None:
    """Why change_pte_range(prot_numa) leaves this PTE alone, or None to protect it."""
    r = c.r
    fn = "change_pte_range"
    if pte.protnone:
        return "already PROT_NONE"
    if pte.pfn == ZERO_PFN:
        return "no struct page (zero page)"
    page = m.page(pte.pfn)
    if page.thp:
        return "THP (NUMA balancing of THPs is not modeled)"
    if vma.is_cow_mapping:
        if r.numa_skip_pinned_or_shared:
            shared = page.maybe_dma_pinned or page.mapcount > 1
            c.decide(
                fn,
                f"COW mapping, maybe pinned {page.maybe_dma_pinned}, mapcount {page.mapcount}"
                + (" -> skip" if shared else " -> continue"),
                "numa_skip_pinned_or_shared",
            )
            if shared:
                return "maybe pinned or shared"
        elif r.numa_skip_refcount:
            if page.refcount != 1:
                c.decide(fn, f"COW mapping, refcount {page.refcount} != 1 -> skip",
                         "numa_skip_refcount")
                return "refcount != 1"
            c.decide(fn, "COW mapping, refcount 1 -> continue", "numa_skip_refcount")
        elif r.numa_skip_shared_cow:
            if page.mapcount != 1:
                c.decide(fn, f"COW mapping, mapcount {page.mapcount} != 1 -> skip",
                         "numa_skip_refcount")
                return "mapcount != 1"
            c.decide(
                fn,
                f"COW mapping, mapcount 1 (refcount {page.refcount}) -> continue",
                "numa_skip_refcount",
            )
    if target_node != NO_NODE and page.node == target_node:
        return f"single-threaded mm and page already on node {target_node}"
    return None


def change_pte_range(
    c: Ctx,
    m: Machine,
    pid: int,
    vma: Vma,
    *,
    prot_numa: bool,
    target_node: int = NO_NODE,
) -> Machine:
    """Rewrite the PTEs of ``vma`` for its (new) flags, or NUMA-protect them."""
    fn = "change_pte_range"
    r = c.r
    proc = m.processes[pid]
    for vpn, pte in proc.ptes:
        if not vma.contains(vpn):
            continue
        if type(pte) is MigrationEntry:
            if pte.mode == MIGRATION_WRITABLE:
                anon = m.pages[pte.pfn] is not None and m.page(pte.pfn).anon
                mode = MIGRATION_READABLE_EXCLUSIVE if (r.anon_exclusive and anon) else MIGRATION_READABLE
                m = set_pte(m, pid, vpn, pte._replace(mode=mode))
                c.decide(fn, f"vpn {vpn:#x}: writable migration entry -> {mode}",
                         "anon_exclusive" if r.anon_exclusive else "")
            continue
        if type(pte) is not PresentPte:
            continue
        if prot_numa:
            why = _numa_skip(c, m, vma, pte, target_node)
            if why is not None:
                c.decide(fn, f"vpn {vpn:#x}: skip ({why})")
                continue
            saved = r.numa_savedwrite and pte_write(pte)
            m = set_pte(m, pid, vpn, pte._replace(protnone=True, write=False, savedwrite=saved))
            c.decide(
                fn,
                f"vpn {vpn:#x}: pfn {pte.pfn} -> PROT_NONE"
                + (", write bit kept as savedwrite" if saved else ", write bit dropped"),
                "numa_savedwrite",
            )
            continue
        m = set_pte(m, pid, vpn, _mprotect_pte(c, m, vma, vpn, pte))
    return m


def _mprotect_pte(c: Ctx, m: Machine, vma: Vma, vpn: int, pte: PresentPte) -> PresentPte:
    """pte_modify() to the VMA's new vm_page_prot: a private mapping's vm_page_prot has
    no write bit; from 64fe24a3e05e an exclusive anon page may be made writable."""
    if not vma.accessible:
        return pte._replace(protnone=True, write=False, savedwrite=False)
    write = False
    if vma.hugetlb:  # hugetlb_change_protection: vm_page_prot only, no write upgrade
        return pte._replace(protnone=False, savedwrite=False, write=False)
    if vma.writable and c.r.mprotect_exclusive_writable and pte.pfn != ZERO_PFN:
        page = m.page(pte.pfn)
        if vma.soft_dirty_tracking and not pte.soft_dirty:
            c.decide("change_pte_range", f"vpn {vpn:#x}: soft-dirty tracking needs the write "
                     "fault -> stays read-only", "mprotect_exclusive_writable")
        elif page.anon and page.exclusive:
            write = True
            c.decide("change_pte_range", f"vpn {vpn:#x}: exclusive anon page -> writable",
                     "mprotect_exclusive_writable")
    return pte._replace(protnone=False, savedwrite=False, write=write)


def mprotect(c: Ctx, m: Machine, pid: int, region: str, flags: int, lo: int, hi: int
             ) -> Machine:
    """mprotect() of pages ``lo``..``hi`` of a region, splitting its VMA at the ends."""
    m, pieces = range_vmas(c, m, pid, region, lo, hi)
    for vma in pieces:
        keep = vma.flags & (VM_DONTCOPY | VM_WIPEONFORK | VM_SOFTDIRTY | VM_HUGETLB | VM_HUGEPAGE)
        new_vma = vma._replace(flags=flags | keep)
        if new_vma.flags == vma.flags:
            c.note("mprotect", f"vpn {vma.start:#x}..{vma.end - 1:#x}: protection unchanged")
            continue
        proc = m.processes[pid]
        m = m.with_process(proc._replace(vmas=tuple(new_vma if v == vma else v
                                                    for v in proc.vmas)))
        c.note("mprotect", f"{region} vpn {vma.start:#x}..{vma.end - 1:#x}: VM_WRITE "
               f"{'on' if new_vma.writable else 'off'}")
        m = change_pte_range(c, m, pid, new_vma, prot_numa=False)
    return m
