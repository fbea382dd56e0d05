"""mmap, munmap, exit_mmap and the zap path (mm/mmap.c, mm/memory.c zap_pte_range)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, vpn_range
from cowlab.kernel.huge_memory import free_pgtables, pmd_base, pmd_trans_huge, zap_huge_pmd
from cowlab.kernel.pages import page_remove_rmap, put_page
from cowlab.kernel.swapfile import free_swap_and_cache, free_swap_cache
from cowlab.kernel.vma import range_vmas
from cowlab.model import HPAGE_NR, VM_HUGEPAGE, VM_SOFTDIRTY, ZERO_PFN, Vma
from cowlab.model import state as S
from cowlab.model.events import Mapped, Zapped
from cowlab.model.pte import (
    is_migration_entry,
    is_swap_entry,
    pfn_swap_entry_to_pfn,
    pte_pfn,
    pte_present,
    pte_to_swp_entry,
    swp_offset,
)
from cowlab.model.state import FlatMachine
from cowlab.model.state.convert import vma_view, vmas_of

#: the lowest vpn an mmap may use: the first mapping goes one guard page above it
#: (as ``Process.next_free_vpn`` of the record model)
MMAP_MIN_VPN = 0x100


def get_unmapped_area(m: FlatMachine, pid: int) -> int:
    """Where the next mmap goes: one guard page above the highest VMA."""
    top = max((S.vma_end(m, pid, slot) for slot in range(S.nr_vmas(m, pid))), default=MMAP_MIN_VPN - 1)
    return top + 1


def fresh_contents(m: FlatMachine, vma: Vma) -> tuple[int, ...]:
    """What each page of ``vma`` reads as when first touched: zero for anonymous
    memory, the file's data (as on disk) for a private file mapping."""
    f = S.file_named(m, vma.file) if vma.file else -1
    if f < 0:
        return (0,) * vma.npages
    end = min(vma.pgoff + vma.npages, S.file_nr_pages(m, f))
    return tuple(S.file_original(m, f, page) for page in range(vma.pgoff, end))


def file_mapping(m: FlatMachine, vma: Vma) -> tuple[int, int, bool]:
    """What a Mapped or Zapped event says of ``vma``'s file: its index (-1 for
    anonymous memory), the file page of the VMA's first page, and MAP_SHARED."""
    return S.file_named(m, vma.file) if vma.file else -1, vma.pgoff, vma.shared


def do_mmap(
    c: Ctx, m: FlatMachine, pid: int, name: str, npages: int, flags: int, file: str = ""
) -> FlatMachine:
    """mmap(), MAP_PRIVATE or (a file) MAP_SHARED.  A THP-enabled region (VM_HUGEPAGE)
    starts on a PMD boundary, as cow.c arranges by over-allocating and aligning."""
    start = get_unmapped_area(m, pid)
    if flags & VM_HUGEPAGE:
        start += -start % HPAGE_NR
    slot = S.nr_vmas(m, pid)
    S.insert_vma(m, pid, slot, start=start, npages=npages, flags=flags | VM_SOFTDIRTY, name=name, file=file)
    vma = vma_view(m, pid, slot)
    what = (
        f"{'shared' if vma.shared else 'private'} mapping of {file}"
        if file
        else (
            "anonymous hugetlb"
            if vma.hugetlb
            else "anonymous, MADV_HUGEPAGE"
            if vma.thp_enabled
            else "anonymous, MADV_HUGEPAGE, multi-size THP"
            if vma.mthp_enabled
            else "anonymous"
        )
    )
    c.note("mmap", f"{S.mm_name(m, pid)}: {name} = {vpn_range(start, start + npages)} ({what})")
    c.emit(Mapped(pid, tuple(range(start, start + npages)), fresh_contents(m, vma), *file_mapping(m, vma)))
    return m


def zap_pte_range(c: Ctx, m: FlatMachine, pid: int, vma: Vma) -> FlatMachine:
    """Drop every mapping in ``vma``: present pages lose a map count and a reference
    (and an unmapped page its unused swap cache), swap entries their slot count."""
    fn = "zap_pte_range"
    # the walk sees the table as it was when it started (each entry is dropped once)
    entries = [(vpn, S.pte_at(m, pid, vpn)) for vpn in range(vma.start, vma.end)]
    for vpn, pte in entries:
        if not pte:
            continue
        if pmd_trans_huge(pte):
            if vpn == pmd_base(vpn):
                zap_huge_pmd(c, m, pid, vpn)
            continue
        S.pte_clear(m, pid, vpn)
        if pte_present(pte):
            pfn = pte_pfn(pte)
            if pfn == ZERO_PFN:
                continue
            page_remove_rmap(m, pfn)
            put_page(c, m, pfn)
            free_swap_cache(c, m, pfn)
            c.note(fn, f"vpn {vpn:#x}: unmapped pfn {pfn}")
        elif is_swap_entry(pte):
            slot = swp_offset(pte_to_swp_entry(pte))
            free_swap_and_cache(c, m, slot)
            c.note(fn, f"vpn {vpn:#x}: dropped swap slot {slot}")
        elif is_migration_entry(pte):
            c.note(fn, f"vpn {vpn:#x}: dropped migration entry for pfn {pfn_swap_entry_to_pfn(pte)}")
    return m


def do_munmap(c: Ctx, m: FlatMachine, pid: int, region: str, lo: int, hi: int) -> FlatMachine:
    m, pieces = range_vmas(c, m, pid, region, lo, hi)
    for vma in pieces:
        zap_pte_range(c, m, pid, vma)
        slot = S.vma_lookup(m, pid, vma.start)
        assert S.vma_start(m, pid, slot) == vma.start and S.vma_end(m, pid, slot) == vma.end
        S.remove_vma(m, pid, slot)
        free_pgtables(m, pid)
        c.emit(
            Zapped(pid, tuple(range(vma.start, vma.end)), True, fresh_contents(m, vma), *file_mapping(m, vma))
        )
    c.note("munmap", f"{S.mm_name(m, pid)}: {region} {vpn_range(lo, hi)} unmapped")
    return m


def exit_mmap(c: Ctx, m: FlatMachine, pid: int) -> FlatMachine:
    """The process exits: its mappings go, its threads go, its pipes close (their page
    references drop).  A device's pins stay: the driver holds them."""
    from cowlab.kernel.gup import unpin_user_page

    vpns: list[int] = []
    for vma in vmas_of(m, pid):
        zap_pte_range(c, m, pid, vma)
        vpns.extend(range(vma.start, vma.end))
    pipes = [
        S.ref_name(m, i) for i in S.refs_in_use(m) if S.ref_pid(m, i) == pid and S.ref_holder(m, i) == "pipe"
    ]
    for name in pipes:
        unpin_user_page(c, m, name)
    for slot in reversed(range(S.nr_vmas(m, pid))):
        S.remove_vma(m, pid, slot)
    S.set_mm_alive(m, pid, False)
    for ti in reversed(range(S.nr_threads(m))):
        if S.task_pid(m, ti) == pid:
            S.remove_thread(m, ti)
    c.note("exit", f"{S.mm_name(m, pid)} exited")
    c.emit(Zapped(pid, tuple(vpns), unmapped=True))
    return m
