"""change_protection() and mprotect() (mm/mprotect.c).

change_pte_range() serves both mprotect and the NUMA scanner (prot_numa).  For a
migration entry it does the same in both: a writable entry becomes readable
("a protection check is difficult so just be safe and disable write"; v5.15 and
current mm/mprotect.c), readable_exclusive for anon pages from 6c287605fd56.
That downgrade, racing a migration that then fails, is how a pinned page's PTE
loses its write bit in the Gaudi bug
(docs/reference/kernel-behaviour.md#migration-entry-downgrade).
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx, vpn_range
from cowlab.kernel.huge_memory import pmd_base
from cowlab.kernel.pages import folio_likely_mapped_shared, folio_pfn, page_mapcount, page_maybe_dma_pinned
from cowlab.kernel.pgtable import readable_migration_pte
from cowlab.kernel.vma import range_vmas, shared_pte_writable
from cowlab.model import (
    HPAGE_NR,
    NO_NODE,
    VM_DONTCOPY,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_MAYSHARE,
    VM_MTHP,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_WIPEONFORK,
    ZERO_PFN,
    Machine,
    Vma,
)
from cowlab.model import state as S
from cowlab.model.pte import (
    PAGE_NONE,
    PAGE_READONLY,
    is_writable_migration_entry,
    migration_entry_mode,
    pfn_swap_entry_to_pfn,
    pte_dirty,
    pte_mk_savedwrite,
    pte_mkwrite,
    pte_modify,
    pte_none,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_protnone,
    pte_soft_dirty,
    pte_t,
    pte_to_swp_entry,
    pte_write,
)
from cowlab.model.state.convert import vma_view


def _readable_migration_pte(c: Ctx, m: Machine, pte: pte_t) -> pte_t:
    """A writable migration entry made readable: "a protection check is difficult so
    just be safe and disable write"; readable_exclusive for an anon page from
    6c287605fd56."""
    pfn = pfn_swap_entry_to_pfn(pte)
    anon = S.page_in_use(m, pfn) and S.PageAnon(m, pfn)
    return readable_migration_pte(pte, exclusive=c.r.anon_exclusive and anon)


def _numa_skip(c: Ctx, m: Machine, vma: Vma, pte: pte_t, target_node: int) -> str | None:
    """Why change_pte_range(prot_numa) leaves this PTE alone, or None to protect it."""
    r = c.r
    fn = "change_pte_range"
    if pte_protnone(pte):
        return "already PROT_NONE"
    if pte_pfn(pte) == ZERO_PFN:
        return "no struct page (zero page)"
    pfn = pte_pfn(pte)
    if vma.is_cow_mapping:
        # page_count() and page_mapcount() of a THP subpage read its folio's counts
        refcount, mapcount = S.page_count(m, folio_pfn(m, pfn)), page_mapcount(m, pfn)
        if r.numa_skip_pinned_or_shared:
            pinned = page_maybe_dma_pinned(m, pfn)
            shared = folio_likely_mapped_shared(m, pfn, by_mm=r.folio_shared_by_mm)
            c.decide(
                fn,
                f"COW mapping, maybe pinned {pinned}, maybe shared {shared}"
                + (" -> skip" if pinned or shared else " -> continue"),
                "numa_skip_pinned_or_shared",
            )
            shared = pinned or shared
            if shared:
                return "maybe pinned or shared"
        elif r.numa_skip_refcount:
            if refcount != 1:
                c.decide(fn, f"COW mapping, refcount {refcount} != 1 -> skip", "numa_skip_refcount")
                return "refcount != 1"
            c.decide(fn, "COW mapping, refcount 1 -> continue", "numa_skip_refcount")
        elif r.numa_skip_shared_cow:
            if mapcount != 1:
                c.decide(fn, f"COW mapping, mapcount {mapcount} != 1 -> skip", "numa_skip_refcount")
                return "mapcount != 1"
            c.decide(
                fn,
                f"COW mapping, mapcount 1 (refcount {refcount}) -> continue",
                "numa_skip_refcount",
            )
    if target_node != NO_NODE and S.page_to_nid(m, pfn) == target_node:
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
    for vpn in range(vma.start, vma.end):
        pte = S.pte_at(m, pid, vpn)
        if pte_none(pte):
            continue
        if pte_pmd_mapped(pte) and (prot_numa or not pte_present(pte)):
            if vpn == pmd_base(vpn):
                change_huge_pmd(c, m, pid, vpn, prot_numa=prot_numa)
            continue
        if not pte_present(pte):
            entry = pte_to_swp_entry(pte)
            if is_writable_migration_entry(entry):
                new = _readable_migration_pte(c, m, pte)
                S.set_pte_at(m, pid, vpn, new)
                c.decide(
                    fn,
                    f"vpn {vpn:#x}: writable migration entry -> {migration_entry_mode(new)}",
                    "anon_exclusive" if r.anon_exclusive else "",
                )
            continue
        if prot_numa:
            why = _numa_skip(c, m, vma, pte, target_node)
            if why is not None:
                c.decide(fn, f"vpn {vpn:#x}: skip ({why})")
                continue
            saved = r.numa_savedwrite and pte_write(pte)
            new = pte_modify(pte, PAGE_NONE)
            S.set_pte_at(m, pid, vpn, pte_mk_savedwrite(new) if saved else new)
            c.decide(
                fn,
                f"vpn {vpn:#x}: pfn {pte_pfn(pte)} -> PROT_NONE"
                + (", write bit kept as savedwrite" if saved else ", write bit dropped"),
                "numa_savedwrite",
            )
            continue
        S.set_pte_at(m, pid, vpn, _mprotect_pte(c, m, vma, vpn, pte))
    return m


def change_huge_pmd(c: Ctx, m: Machine, pid: int, base: int, *, prot_numa: bool) -> Machine:
    """change_huge_pmd() (mm/huge_memory.c) for the PMD at ``base``: a writable PMD
    migration entry becomes readable, as a PTE one does; the NUMA scanner makes a
    present PMD PROT_NONE, skipping only the huge zero page and a PMD already
    PROT_NONE.  Unlike change_pte_range, it has no pin, refcount or sharing test in any
    release modeled (docs/research/thp-numa.md), so a pinned THP is protected too."""
    fn = "change_huge_pmd"
    group = [(vpn, S.pte_at(m, pid, vpn)) for vpn in range(base, base + HPAGE_NR)]
    first = group[0][1]
    if not pte_present(first):
        if is_writable_migration_entry(first):
            for vpn, pte in group:
                S.set_pte_at(m, pid, vpn, _readable_migration_pte(c, m, pte))
            c.decide(
                fn,
                f"vpn {base:#x}: writable PMD migration entry -> "
                f"{migration_entry_mode(S.pte_at(m, pid, base))}",
                "anon_exclusive" if c.r.anon_exclusive else "",
            )
        return m
    head = pte_pfn(first)
    if S.is_huge_zero_page(m, head):
        c.decide(fn, f"vpn {base:#x}: huge zero page -> skip")
        return m
    if pte_protnone(first):
        c.decide(fn, f"vpn {base:#x}: PMD already PROT_NONE -> skip")
        return m
    saved = c.r.numa_savedwrite and pte_write(first)
    for vpn, pte in group:
        new = pte_modify(pte, PAGE_NONE)
        S.set_pte_at(m, pid, vpn, pte_mk_savedwrite(new) if saved else new)
    pinned = " (maybe pinned: no test here)" if page_maybe_dma_pinned(m, head) else ""
    c.decide(
        fn,
        f"vpn {base:#x}: THP {head}{pinned} -> PROT_NONE PMD"
        + (", write bit kept as savedwrite" if saved else ", write bit dropped"),
        "numa_savedwrite",
    )
    return m


def _mprotect_pte(c: Ctx, m: Machine, vma: Vma, vpn: int, pte: pte_t) -> pte_t:
    """pte_modify() to the VMA's new vm_page_prot: a private mapping's vm_page_prot has
    no write bit; from 64fe24a3e05e an exclusive anon page may be made writable."""
    if not vma.accessible:
        return pte_modify(pte, PAGE_NONE)
    if vma.shared:  # vm_page_prot, or a dirty PTE where the VMA wants write notification
        new = pte_modify(pte, PAGE_READONLY)
        return pte_mkwrite(new) if shared_pte_writable(m, vma, dirty=pte_dirty(pte)) else new
    write = False
    if vma.hugetlb:  # hugetlb_change_protection: vm_page_prot only, no write upgrade
        return pte_modify(pte, PAGE_READONLY)
    if vma.writable and c.r.mprotect_exclusive_writable and pte_pfn(pte) != ZERO_PFN:
        pfn = pte_pfn(pte)
        if vma.soft_dirty_tracking and not pte_soft_dirty(pte):
            c.decide(
                "change_pte_range",
                f"vpn {vpn:#x}: soft-dirty tracking needs the write fault -> stays read-only",
                "mprotect_exclusive_writable",
            )
        elif S.PageAnon(m, pfn) and S.PageAnonExclusive(m, pfn):
            write = True
            c.decide(
                "change_pte_range",
                f"vpn {vpn:#x}: exclusive anon page -> writable",
                "mprotect_exclusive_writable",
            )
    new = pte_modify(pte, PAGE_READONLY)
    return pte_mkwrite(new) if write else new


def mprotect(c: Ctx, m: Machine, pid: int, region: str, flags: int, lo: int, hi: int) -> Machine:
    """mprotect() of pages ``lo``..``hi`` of a region, splitting its VMA at the ends."""
    _, pieces = range_vmas(c, m, pid, region, lo, hi)
    for vma in pieces:
        keep = vma.flags & (
            VM_DONTCOPY
            | VM_WIPEONFORK
            | VM_SOFTDIRTY
            | VM_HUGETLB
            | VM_HUGEPAGE
            | VM_MTHP
            | VM_SHARED
            | VM_MAYSHARE
        )
        if flags | keep == vma.flags:
            c.note("mprotect", f"{vpn_range(vma.start, vma.end)}: protection unchanged")
            continue
        slot = S.vma_lookup(m, pid, vma.start)
        S.set_vma_flags(m, pid, slot, flags | keep)
        new_vma = vma_view(m, pid, slot)
        now = "read-write" if new_vma.writable else "read-only" if new_vma.accessible else "PROT_NONE"
        c.note("mprotect", f"{region} {vpn_range(vma.start, vma.end)}: now {now}")
        change_pte_range(c, m, pid, new_vma, prot_numa=False)
    return m
