"""fork(): dup_mmap and copy_page_range (kernel/fork.c, mm/memory.c copy_present_pte)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.huge_memory import copy_huge_pmd, pmd_base, tables_in_use
from cowlab.kernel.hugetlb import copy_hugetlb_pte
from cowlab.kernel.lru import lru_cache_add
from cowlab.kernel.pages import (
    alloc_page,
    folio_of,
    get_page,
    no_struct_page,
    page_add_rmap,
    page_maybe_dma_pinned,
)
from cowlab.kernel.pgtable import maybe_mkwrite, set_pte
from cowlab.kernel.swapfile import swap_duplicate
from cowlab.model import VM_DONTCOPY, VM_WIPEONFORK, ZERO_PFN, Machine, Process, Thread, Vma
from cowlab.model.events import Forked
from cowlab.model.pte import (
    PAGE_READONLY,
    is_readable_migration_entry,
    is_swap_entry,
    make_readable_migration_entry,
    pfn_pte,
    pte_mkdirty,
    pte_mkold,
    pte_mksoft_dirty,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_soft_dirty,
    pte_swp_clear_exclusive,
    pte_swp_exclusive,
    pte_swp_mksoft_dirty,
    pte_swp_soft_dirty,
    pte_t,
    pte_to_swp_entry,
    pte_write,
    pte_wrprotect,
    swp_entry_to_pte,
    swp_offset,
)


def _needs_early_cow(c: Ctx, m: Machine, parent: Process, vma: Vma, pfn: int) -> bool:
    """70e806e4e645 "mm: Do early cow for pinned pages during fork() for ptes" (v5.9),
    gated by 008cfe4418b3 mm->has_pinned; from 6c287605fd56 the page must also be
    PageAnonExclusive (page_try_dup_anon_rmap fails only then)."""
    r = c.r
    page = m.page(pfn)
    if not (r.fork_early_cow and vma.is_cow_mapping and page.anon
            and page_maybe_dma_pinned(m, pfn)):
        return False
    if r.mm_has_pinned and not parent.has_pinned:
        c.decide("copy_present_pte", "page maybe pinned but mm has never pinned -> share",
                 "mm_has_pinned")
        return False
    return not (r.anon_exclusive and not page.exclusive)


def early_cow_vpns(c: Ctx, m: Machine, parent: Process) -> tuple[int, ...]:
    """The pinned check of copy_present_pte, for every present PTE: which pages the child
    gets a copy of.  fork makes it before it write-protects anything; GUP-fast, which
    takes no lock, can pin a page in between (the race 57efa1fe5957 closes)."""
    out = []
    for vpn, pte in parent.ptes:
        vma = parent.vma_at(vpn)
        if (vma is not None and not vma.hugetlb and pte_present(pte)
                and not no_struct_page(m, pte_pfn(pte))
                and not vma.flags & (VM_DONTCOPY | VM_WIPEONFORK)
                and _needs_early_cow(c, m, parent, vma, pte_pfn(pte))):
            out.append(vpn)
    return tuple(out)


def copy_present_pte(
    c: Ctx, m: Machine, parent: Process, child_pid: int, vma: Vma, vpn: int, pte: pte_t,
    node: int, cpu: int, early: tuple[int, ...],
) -> tuple[Machine, pte_t]:
    """Share the page with the child (write-protecting both in a COW mapping), or
    copy it for the child at once if the pinned check said it may be pinned."""
    fn = "copy_present_pte"
    pfn = pte_pfn(pte)
    if pfn != ZERO_PFN and vpn in early:
        page = m.page(pfn)
        folio = folio_of(m, pfn)
        m, new = alloc_page(m, node, page.content)
        m = page_add_rmap(m, new, exclusive=c.r.anon_exclusive)
        m = lru_cache_add(m, new, cpu)
        c.decide(
            fn,
            f"pfn {pfn} maybe DMA-pinned (refcount {folio.refcount}) -> copy for the child "
            f"now (pfn {new}); parent PTE untouched",
            "fork_early_cow",
        )
        new_pte = maybe_mkwrite(pte_mkdirty(pfn_pte(new, PAGE_READONLY)), vma)
        if pte_soft_dirty(pte):
            new_pte = pte_mksoft_dirty(new_pte)
        return m, new_pte
    if pfn != ZERO_PFN:
        m = get_page(m, pfn)
        page = m.page(pfn)
        m = m.with_page(pfn, page._replace(mapcount=page.mapcount + 1,
                                           exclusive=False if c.r.anon_exclusive else
                                           page.exclusive))
    child_pte = pte_mkold(pte)
    if vma.is_cow_mapping and pte_write(pte):
        m = set_pte(m, parent.pid, vpn, pte_wrprotect(pte))
        child_pte = pte_wrprotect(child_pte)
        c.decide(fn, f"vpn {vpn:#x}: share pfn {pfn}, write-protect parent and child")
    else:
        c.decide(fn, f"vpn {vpn:#x}: share pfn {pfn}")
    return m, child_pte


def copy_nonpresent_pte(c: Ctx, m: Machine, parent: Process, vma: Vma, vpn: int, pte: pte_t
                        ) -> tuple[Machine, pte_t]:
    """A swap entry: one more user of the slot, exclusive in neither process.  A
    migration entry: readable in both in a COW mapping (it was writable or exclusive)."""
    entry = pte_to_swp_entry(pte)
    if is_swap_entry(pte):
        m = swap_duplicate(m, swp_offset(entry))
        if pte_swp_exclusive(pte):
            pte = pte_swp_clear_exclusive(pte)
            m = set_pte(m, parent.pid, vpn, pte)
        c.note("copy_nonpresent_pte", f"vpn {vpn:#x}: swap slot {swp_offset(entry)} shared")
        return m, pte
    if not is_readable_migration_entry(entry) and vma.is_cow_mapping:
        new = swp_entry_to_pte(make_readable_migration_entry(swp_offset(entry)))
        if pte_swp_soft_dirty(pte):
            new = pte_swp_mksoft_dirty(new)
        m = set_pte(m, parent.pid, vpn, new)
        c.note("copy_nonpresent_pte", f"vpn {vpn:#x}: migration entry -> readable")
        return m, new
    return m, pte


def copy_page_range(
    c: Ctx, m: Machine, parent: Process, child_pid: int, vma: Vma, node: int, cpu: int,
    early: tuple[int, ...],
) -> tuple[Machine, list[tuple[int, pte_t]]]:
    child_ptes: list[tuple[int, pte_t]] = []
    split: set[int] = set()
    for vpn, pte in parent.ptes:
        if not vma.contains(vpn):
            continue
        parent = m.processes[parent.pid]
        if pte_present(pte) and pte_pmd_mapped(pte):
            if vpn == pmd_base(vpn):
                m, group = copy_huge_pmd(c, m, parent, vma, vpn, early)
                if group is not None:
                    child_ptes.extend(group)
                    continue
                split.add(vpn)  # the PMD is split: its PTEs are copied one by one
            elif pmd_base(vpn) not in split:
                continue  # copied with its PMD
            pte = m.processes[parent.pid].pte(vpn)
            assert pte_present(pte)
        if vma.hugetlb:
            m, new = copy_hugetlb_pte(c, m, parent, vma, vpn, pte, node)
        elif pte_present(pte):
            m, new = copy_present_pte(c, m, parent, child_pid, vma, vpn, pte, node, cpu, early)
        else:
            m, new = copy_nonpresent_pte(c, m, parent, vma, vpn, pte)
        child_ptes.append((vpn, new))
    return m, child_ptes


def do_fork(c: Ctx, m: Machine, ti: int, child_name: str, thread_name: str,
            early: tuple[int, ...]) -> Machine:
    """dup_mm(): VM_DONTCOPY VMAs are not copied, VM_WIPEONFORK VMAs are copied empty."""
    thread = m.threads[ti]
    parent = m.processes[thread.pid]
    child_pid = len(m.processes)
    vmas: list[Vma] = []
    ptes: list[tuple[int, pte_t]] = []
    copied: list[int] = []
    wiped: list[int] = []
    child = Process(child_pid, child_name, parent=parent.pid)
    m = m._replace(processes=(*m.processes, child))
    for vma in parent.vmas:
        if vma.flags & VM_DONTCOPY:
            c.decide("dup_mmap", f"{vma.name}: VM_DONTCOPY -> not in the child")
            continue
        vmas.append(vma)
        if vma.flags & VM_WIPEONFORK:
            c.decide("dup_mmap", f"{vma.name}: VM_WIPEONFORK -> empty in the child")
            wiped.extend(range(vma.start, vma.end))
            continue
        copied.extend(range(vma.start, vma.end))
        m, new = copy_page_range(c, m, m.processes[parent.pid], child_pid, vma, thread.node,
                                 thread.cpu, early)
        ptes.extend(new)
    ptes.sort(key=lambda item: item[0])
    tables = tables_in_use(m.processes[parent.pid].pte_tables, vmas)
    m = m.with_process(child._replace(vmas=tuple(vmas), ptes=tuple(ptes), pte_tables=tables))
    new_thread = Thread(thread_name, child_pid, thread.node, thread.affinity)
    m = m._replace(threads=(*m.threads, new_thread))
    c.note("fork", f"{parent.name} forked {child_name} (thread {thread_name})")
    c.emit(Forked(parent.pid, child_pid, tuple(copied), tuple(wiped)))
    return m
