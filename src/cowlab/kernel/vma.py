"""Splitting VMAs (mm/mmap.c split_vma): an operation on part of a region first cuts its
VMA at the range's ends.  The pieces keep the region's name, so addresses like
``buf[3]`` still resolve, and a file mapping's pieces keep their file offsets."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.huge_memory import split_huge_pmds_at
from cowlab.model import Machine, Vma
from cowlab.model import state as S
from cowlab.model.state.convert import vmas_of
from cowlab.model.swap import fs_has_writeback


def __split_vma(m: Machine, pid: int, slot: int, at: int) -> None:
    """Cut the VMA in ``slot`` at ``at``: it keeps the left piece, the right one takes the
    next slot (slots stay in address order)."""
    start, end = S.vma_start(m, pid, slot), S.vma_end(m, pid, slot)
    flags, name, file = S.vma_flags(m, pid, slot), S.vma_name(m, pid, slot), S.vma_file(m, pid, slot)
    pgoff, base = S.vma_pgoff(m, pid, slot), S.vma_region_base(m, pid, slot)
    S.remove_vma(m, pid, slot)
    S.insert_vma(
        m,
        pid,
        slot,
        start=start,
        npages=at - start,
        flags=flags,
        name=name,
        file=file,
        pgoff=pgoff,
        base=base,
    )
    S.insert_vma(
        m,
        pid,
        slot + 1,
        start=at,
        npages=end - at,
        flags=flags,
        name=name,
        file=file,
        pgoff=pgoff + (at - start),
        base=base,
    )


def range_vmas(c: Ctx, m: Machine, pid: int, region: str, lo: int, hi: int) -> tuple[Machine, list[Vma]]:
    """Split the pieces of ``region`` at ``lo`` and ``hi`` and return those inside.  A
    PMD-mapped THP across either end is split into PTEs first (vma_adjust_trans_huge
    for a VMA split; zap and change_protection do the same for a partial PMD)."""
    m = split_huge_pmds_at(c, m, pid, (lo, hi), "split_huge_pmd")
    slot = 0
    while slot < S.nr_vmas(m, pid):
        if S.vma_name(m, pid, slot) == region:
            for cut in (lo, hi):
                if S.vma_start(m, pid, slot) < cut < S.vma_end(m, pid, slot):
                    __split_vma(m, pid, slot, cut)
                    slot += 1
        slot += 1
    inside = [v for v in vmas_of(m, pid) if v.name == region and lo <= v.start and v.end <= hi]
    return m, inside


# --- shared file mappings: dirty tracking --------------------------------------------


def vma_file_fs(m: Machine, vma: Vma) -> str:
    """The filesystem of the file ``vma`` maps (its superblock's type)."""
    return S.file_fs(m, S.file_named(m, vma.file))


def vma_needs_dirty_tracking(m: Machine, vma: Vma) -> bool:
    """mm/mmap.c vma_needs_dirty_tracking(): a shared writable mapping of a file on a
    filesystem with writeback.  (The name came with 8ac268436e6d, v6.5; the condition
    was part of vma_wants_writenotify() before.)"""
    if not (vma.shared and vma.writable and vma.file):
        return False
    return fs_has_writeback(vma_file_fs(m, vma))


def vma_wants_writenotify(m: Machine, vma: Vma) -> bool:
    """mm/mmap.c vma_wants_writenotify(): a shared writable mapping whose PTEs start
    read-only, so that the first store to each page faults (dirty tracking or
    soft-dirty tracking); without it the VMA's vm_page_prot carries the write bit."""
    return vma.shared and vma.writable and (vma_needs_dirty_tracking(m, vma) or vma.soft_dirty_tracking)


def shared_pte_writable(m: Machine, vma: Vma, dirty: bool) -> bool:
    """Whether a PTE of a shared mapping may be writable without a write fault: always
    when the VMA wants no write notification, else only once the PTE is dirty (the
    filesystem has heard of the write)."""
    return vma.writable and (dirty or not vma_wants_writenotify(m, vma))
