"""mmap, munmap, exit_mmap and the zap path (mm/mmap.c, mm/memory.c zap_pte_range)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.huge_memory import pmd_base, tables_in_use, zap_huge_pmd
from cowlab.kernel.pages import page_remove_rmap, put_page
from cowlab.kernel.pgtable import pte_clear
from cowlab.kernel.swapfile import free_swap_and_cache, free_swap_cache
from cowlab.kernel.vma import range_vmas
from cowlab.model import HPAGE_NR, VM_HUGEPAGE, VM_SOFTDIRTY, ZERO_PFN, Machine, Vma
from cowlab.model.events import Mapped, Zapped
from cowlab.model.pte import (
    is_migration_entry,
    is_swap_entry,
    pfn_swap_entry_to_pfn,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_to_swp_entry,
    swp_offset,
)


def fresh_contents(m: Machine, vma: Vma) -> tuple[int, ...]:
    """What each page of ``vma`` reads as when first touched: zero for anonymous
    memory, the file's data (as on disk) for a private file mapping."""
    for f in m.files:
        if f.name == vma.file:
            return f.original[vma.pgoff: vma.pgoff + vma.npages]
    return (0,) * vma.npages


def do_mmap(c: Ctx, m: Machine, pid: int, name: str, npages: int, flags: int, file: str = ""
            ) -> Machine:
    """mmap(MAP_PRIVATE).  A THP-enabled region (VM_HUGEPAGE) starts on a PMD boundary,
    as cow.c arranges by over-allocating and aligning."""
    proc = m.processes[pid]
    start = proc.next_free_vpn()
    if flags & VM_HUGEPAGE:
        start += -start % HPAGE_NR
    vma = Vma(name, start, npages, flags | VM_SOFTDIRTY, file)
    m = m.with_process(proc._replace(vmas=(*proc.vmas, vma)))
    what = f"private mapping of {file}" if file else (
        "anonymous hugetlb" if vma.hugetlb else
        "anonymous, MADV_HUGEPAGE" if vma.thp_enabled else "anonymous")
    c.note("mmap", f"{proc.name}: {name} = vpn {start:#x}..{start + npages - 1:#x} ({what})")
    c.emit(Mapped(pid, tuple(range(start, start + npages)), fresh_contents(m, vma)))
    return m


def zap_pte_range(c: Ctx, m: Machine, pid: int, vma: Vma) -> Machine:
    """Drop every mapping in ``vma``: present pages lose a map count and a reference
    (and an unmapped page its unused swap cache), swap entries their slot count."""
    fn = "zap_pte_range"
    for vpn, pte in m.processes[pid].ptes:
        if not vma.contains(vpn):
            continue
        if pte_present(pte) and pte_pmd_mapped(pte):
            if vpn == pmd_base(vpn):
                m = zap_huge_pmd(c, m, pid, vpn)
            continue
        m = pte_clear(m, pid, vpn)
        if pte_present(pte):
            pfn = pte_pfn(pte)
            if pfn == ZERO_PFN:
                continue
            m = page_remove_rmap(m, pfn)
            m = put_page(c, m, pfn)
            m = free_swap_cache(c, m, pfn)
            c.note(fn, f"vpn {vpn:#x}: unmapped pfn {pfn}")
        elif is_swap_entry(pte):
            slot = swp_offset(pte_to_swp_entry(pte))
            m = free_swap_and_cache(c, m, slot)
            c.note(fn, f"vpn {vpn:#x}: dropped swap slot {slot}")
        elif is_migration_entry(pte):
            c.note(fn, f"vpn {vpn:#x}: dropped migration entry for pfn {pfn_swap_entry_to_pfn(pte)}")
    return m


def do_munmap(c: Ctx, m: Machine, pid: int, region: str, lo: int, hi: int) -> Machine:
    m, pieces = range_vmas(c, m, pid, region, lo, hi)
    for vma in pieces:
        m = zap_pte_range(c, m, pid, vma)
        proc = m.processes[pid]
        vmas = tuple(v for v in proc.vmas if v != vma)
        m = m.with_process(proc._replace(vmas=vmas, pte_tables=tables_in_use(proc.pte_tables,
                                                                               vmas)))
        c.emit(Zapped(pid, tuple(range(vma.start, vma.end)), True, fresh_contents(m, vma)))
    c.note("munmap", f"{m.processes[pid].name}: {region} vpn {lo:#x}..{hi - 1:#x} unmapped")
    return m


def exit_mmap(c: Ctx, m: Machine, pid: int) -> Machine:
    """The process exits: its mappings go, its threads go, its pipes close (their page
    references drop).  A device's pins stay: the driver holds them."""
    from cowlab.kernel.gup import unpin_user_page

    proc = m.processes[pid]
    vpns: list[int] = []
    for vma in proc.vmas:
        m = zap_pte_range(c, m, pid, vma)
        vpns.extend(range(vma.start, vma.end))
    for ref in m.refs:
        if ref.pid == pid and ref.holder == "pipe":
            m = unpin_user_page(c, m, ref.name)
    proc = m.processes[pid]
    m = m.with_process(proc._replace(vmas=(), alive=False))
    m = m._replace(threads=tuple(t for t in m.threads if t.pid != pid))
    c.note("exit", f"{proc.name} exited")
    c.emit(Zapped(pid, tuple(vpns), unmapped=True))
    return m
