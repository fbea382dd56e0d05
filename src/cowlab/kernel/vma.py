"""Splitting VMAs (mm/mmap.c split_vma): an operation on part of a region first cuts its
VMA at the range's ends.  The pieces keep the region's name, so addresses like
``buf[3]`` still resolve, and a file mapping's pieces keep their file offsets."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.huge_memory import split_huge_pmds_at
from cowlab.model import Machine, Vma


def split_vma(vma: Vma, at: int) -> tuple[Vma, Vma]:
    left = vma._replace(npages=at - vma.start, base=vma.region_base)
    right = vma._replace(start=at, npages=vma.start + vma.npages - at,
                         pgoff=vma.pgoff + (at - vma.start), base=vma.region_base)
    return left, right


def range_vmas(c: Ctx, m: Machine, pid: int, region: str, lo: int, hi: int
               ) -> tuple[Machine, list[Vma]]:
    """Split the pieces of ``region`` at ``lo`` and ``hi`` and return those inside.  A
    PMD-mapped THP across either end is split into PTEs first (vma_adjust_trans_huge
    for a VMA split; zap and change_protection do the same for a partial PMD)."""
    m = split_huge_pmds_at(c, m, pid, (lo, hi), "split_huge_pmd")
    proc = m.processes[pid]
    vmas: list[Vma] = []
    for vma in proc.vmas:
        pieces = [vma]
        if vma.name == region:
            for cut in (lo, hi):
                last = pieces[-1]
                if last.start < cut < last.start + last.npages:
                    pieces[-1:] = split_vma(last, cut)
        vmas.extend(pieces)
    vmas.sort(key=lambda v: v.start)
    m = m.with_process(proc._replace(vmas=tuple(vmas)))
    inside = [v for v in vmas if v.name == region and lo <= v.start and v.start + v.npages <= hi]
    return m, inside
