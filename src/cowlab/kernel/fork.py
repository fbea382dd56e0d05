"""fork(): dup_mmap and copy_page_range (kernel/fork.c, mm/memory.c copy_present_pte)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.huge_memory import copy_huge_pmd, pmd_base, pmd_trans_huge
from cowlab.kernel.hugetlb import copy_hugetlb_pte
from cowlab.kernel.lru import lru_cache_add
from cowlab.kernel.pages import (
    alloc_page,
    get_page,
    no_struct_page,
    page_add_rmap,
    page_maybe_dma_pinned,
)
from cowlab.kernel.pgtable import maybe_mkwrite, readable_migration_pte
from cowlab.kernel.swapfile import swap_duplicate
from cowlab.model import HPAGE_NR, VM_DONTCOPY, VM_WIPEONFORK, ZERO_PFN, Vma
from cowlab.model import state as S
from cowlab.model.events import Forked
from cowlab.model.pte import (
    PAGE_READONLY,
    is_readable_migration_entry,
    is_swap_entry,
    pfn_pte,
    pte_mkdirty,
    pte_mkold,
    pte_mksoft_dirty,
    pte_pfn,
    pte_present,
    pte_soft_dirty,
    pte_swp_clear_exclusive,
    pte_swp_exclusive,
    pte_t,
    pte_to_swp_entry,
    pte_write,
    pte_wrprotect,
    swp_offset,
)
from cowlab.model.state import FlatMachine
from cowlab.model.state.convert import insert_vma_record, vma_at, vmas_of


def _needs_early_cow(c: Ctx, m: FlatMachine, parent: int, vma: Vma, pfn: int) -> bool:
    """70e806e4e645 "mm: Do early cow for pinned pages during fork() for ptes" (v5.9),
    gated by 008cfe4418b3 mm->has_pinned.  Up to v5.18 copy_present_page() did not test
    PageAnon, so a pinned page-cache page of a private file mapping was copied too;
    fb3d824d1a46 (v5.19; 5.10.153 by a stable-only patch) copies only anon pages.  From
    6c287605fd56 the page must also be PageAnonExclusive (page_try_dup_anon_rmap fails
    only then).  ``parent`` is a pid."""
    r = c.r
    if not (r.fork_early_cow and vma.is_cow_mapping and page_maybe_dma_pinned(m, pfn)):
        return False
    if r.fork_early_cow_anon_only and not S.PageAnon(m, pfn):
        c.decide(
            "copy_present_pte", f"pfn {pfn} maybe pinned but not anon -> share", "fork_early_cow_anon_only"
        )
        return False
    if r.mm_has_pinned and not S.mm_has_pinned(m, parent):
        c.decide("copy_present_pte", "page maybe pinned but mm has never pinned -> share", "mm_has_pinned")
        return False
    return not (r.anon_exclusive and not S.PageAnonExclusive(m, pfn))


def early_cow_vpns(c: Ctx, m: FlatMachine, parent: int) -> tuple[int, ...]:
    """The pinned check of copy_present_pte, for every present PTE of the process
    ``parent``: which pages the child gets a copy of.  fork makes it before it
    write-protects anything; GUP-fast, which takes no lock, can pin a page in between
    (the race 57efa1fe5957 closes)."""
    out = []
    for vpn in S.mapped_vpns(m, parent):
        pte = S.pte_at(m, parent, vpn)
        vma = vma_at(m, parent, vpn)
        if (
            vma is not None
            and not vma.hugetlb
            and pte_present(pte)
            and not no_struct_page(m, pte_pfn(pte))
            and not vma.flags & (VM_DONTCOPY | VM_WIPEONFORK)
            and _needs_early_cow(c, m, parent, vma, pte_pfn(pte))
        ):
            out.append(vpn)
    return tuple(out)


def copy_present_pte(
    c: Ctx,
    m: FlatMachine,
    parent: int,
    child_pid: int,
    vma: Vma,
    vpn: int,
    pte: pte_t,
    node: int,
    cpu: int,
    early: tuple[int, ...],
) -> tuple[FlatMachine, pte_t]:
    """Share the page with the child (write-protecting both in a COW mapping), or
    copy it for the child at once if the pinned check said it may be pinned."""
    fn = "copy_present_pte"
    pfn = pte_pfn(pte)
    if pfn != ZERO_PFN and vpn in early:
        refcount = S.page_count(m, S.compound_head(m, pfn))
        m, new = alloc_page(m, node, S.page_content(m, pfn))
        page_add_rmap(m, new, exclusive=c.r.anon_exclusive)
        lru_cache_add(m, new, cpu)
        c.decide(
            fn,
            f"pfn {pfn} maybe DMA-pinned (refcount {refcount}) -> copy for the child "
            f"now (pfn {new}); parent PTE untouched",
            "fork_early_cow",
        )
        new_pte = maybe_mkwrite(pte_mkdirty(pfn_pte(new, PAGE_READONLY)), vma)
        if pte_soft_dirty(pte):
            new_pte = pte_mksoft_dirty(new_pte)
        return m, new_pte
    if pfn != ZERO_PFN:
        get_page(m, pfn)
        S.page_mapcount_add(m, pfn, 1)
        if c.r.anon_exclusive:
            S.ClearPageAnonExclusive(m, pfn)
    child_pte = pte_mkold(pte)
    if vma.is_cow_mapping and pte_write(pte):
        S.set_pte_at(m, parent, vpn, pte_wrprotect(pte))
        child_pte = pte_wrprotect(child_pte)
        c.decide(fn, f"vpn {vpn:#x}: share pfn {pfn}, write-protect parent and child")
    else:
        c.decide(fn, f"vpn {vpn:#x}: share pfn {pfn}")
    return m, child_pte


def copy_nonpresent_pte(
    c: Ctx, m: FlatMachine, parent: int, vma: Vma, vpn: int, pte: pte_t
) -> tuple[FlatMachine, pte_t]:
    """A swap entry: one more user of the slot, exclusive in neither process.  A
    migration entry: readable in both in a COW mapping (it was writable or exclusive)."""
    entry = pte_to_swp_entry(pte)
    if is_swap_entry(pte):
        swap_duplicate(m, swp_offset(entry))
        if pte_swp_exclusive(pte):
            pte = pte_swp_clear_exclusive(pte)
            S.set_pte_at(m, parent, vpn, pte)
        c.note("copy_nonpresent_pte", f"vpn {vpn:#x}: swap slot {swp_offset(entry)} shared")
        return m, pte
    if not is_readable_migration_entry(entry) and vma.is_cow_mapping:
        new = readable_migration_pte(pte, exclusive=False)
        S.set_pte_at(m, parent, vpn, new)
        c.note("copy_nonpresent_pte", f"vpn {vpn:#x}: migration entry -> readable")
        return m, new
    return m, pte


def copy_page_range(
    c: Ctx,
    m: FlatMachine,
    parent: int,
    child_pid: int,
    vma: Vma,
    node: int,
    cpu: int,
    early: tuple[int, ...],
) -> tuple[FlatMachine, list[tuple[int, pte_t]]]:
    """Copy the entries of ``vma`` of the process ``parent``; returns the child's."""
    child_ptes: list[tuple[int, pte_t]] = []
    split: set[int] = set()
    # the walk sees the table as it was when it started (each entry is copied once)
    entries = [(vpn, S.pte_at(m, parent, vpn)) for vpn in range(vma.start, vma.end)]
    for vpn, pte in entries:
        if not pte:
            continue
        if pmd_trans_huge(pte):
            if vpn == pmd_base(vpn):
                m, group = copy_huge_pmd(c, m, parent, vma, vpn, early)
                if group is not None:
                    child_ptes.extend(group)
                    continue
                split.add(vpn)  # the PMD is split: its PTEs are copied one by one
            elif pmd_base(vpn) not in split:
                continue  # copied with its PMD
            pte = S.pte_at(m, parent, vpn)
            assert pte_present(pte)
        if vma.hugetlb:
            m, new = copy_hugetlb_pte(c, m, parent, vma, vpn, pte, node)
        elif pte_present(pte):
            m, new = copy_present_pte(c, m, parent, child_pid, vma, vpn, pte, node, cpu, early)
        else:
            m, new = copy_nonpresent_pte(c, m, parent, vma, vpn, pte)
        child_ptes.append((vpn, new))
    return m, child_ptes


def do_fork(
    c: Ctx, m: FlatMachine, ti: int, child_name: str, thread_name: str, early: tuple[int, ...]
) -> FlatMachine:
    """dup_mm(): VM_DONTCOPY VMAs are not copied, VM_WIPEONFORK VMAs are copied empty,
    shared file mappings are copied without their PTEs."""
    parent = S.task_pid(m, ti)
    node = S.task_node(m, ti)
    cpu = S.task_cpu(m, ti)
    copied: list[int] = []
    wiped: list[int] = []
    ptes: list[tuple[int, pte_t]] = []
    S.clear_process(m, S.nr_processes(m))
    child = S.new_process(m, child_name, parent)
    for vma in vmas_of(m, parent):
        if vma.flags & VM_DONTCOPY:
            c.decide("dup_mmap", f"{vma.name}: VM_DONTCOPY -> not in the child")
            continue
        insert_vma_record(m, child, S.nr_vmas(m, child), vma)
        if vma.flags & VM_WIPEONFORK:
            c.decide("dup_mmap", f"{vma.name}: VM_WIPEONFORK -> empty in the child")
            wiped.extend(range(vma.start, vma.end))
            continue
        copied.extend(range(vma.start, vma.end))
        if vma.shared:
            # vma_needs_copy(): a shared file mapping has no anon pages to copy; the
            # child faults the page-cache pages in when it touches them
            c.decide("copy_page_range", f"{vma.name}: shared file mapping -> PTEs not copied")
            continue
        m, new = copy_page_range(c, m, parent, child, vma, node, cpu, early)
        ptes.extend(new)
    for vpn, pte in ptes:
        S.set_pte_at(m, child, vpn, pte)
    # the child gets the page tables of PTEs that serve one of its VMAs
    for base in S.pmd_pte_tables(m, parent):
        if any(
            S.vma_start(m, child, slot) < base + HPAGE_NR and base < S.vma_end(m, child, slot)
            for slot in range(S.nr_vmas(m, child))
        ):
            S.set_pmd_pte_table(m, child, base, True)
    S.new_thread(m, thread_name, child, node, S.task_affinity(m, ti))
    c.note("fork", f"{S.mm_name(m, parent)} forked {child_name} (thread {thread_name})")
    c.emit(Forked(parent, child, tuple(copied), tuple(wiped)))
    return m
