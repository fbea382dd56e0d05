"""mremap() (mm/mremap.c move_vma / move_page_tables): part of a region moves to a new
place.  The pages do not change: their PTEs move, with their counts.  A PMD-mapped THP
that the moved range cuts through, or that would land at an address that is not
PMD-aligned, is split first, so a "partially mremap()'ed THP" ends up mapped by PTEs in
two VMAs (cow.c's backing of that name)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, vpn_range
from cowlab.kernel.huge_memory import free_pgtables, pmd_base, split_huge_pmd
from cowlab.kernel.mmap import get_unmapped_area
from cowlab.kernel.vma import range_vmas
from cowlab.model import HPAGE_NR, VM_HUGEPAGE
from cowlab.model import state as S
from cowlab.model.events import Moved
from cowlab.model.pte import pte_pmd_mapped
from cowlab.model.state import FlatMachine


def do_mremap(c: Ctx, m: FlatMachine, pid: int, region: str, to: str, lo: int, hi: int) -> FlatMachine:
    m, pieces = range_vmas(c, m, pid, region, lo, hi)
    start = get_unmapped_area(m, pid)
    if any(v.flags & VM_HUGEPAGE for v in pieces):
        # keep the PMD offset, so that whole PMDs could move as they are
        start += (lo - start) % HPAGE_NR
    moved: list[tuple[int, int]] = []
    # move_page_tables() moves a PMD as it is only over a whole PMD extent at an aligned
    # destination (move_huge_pmd); any other PMD (present or a migration entry) is split
    for base in range(pmd_base(lo), hi, HPAGE_NR):
        if pte_pmd_mapped(S.pte_at(m, pid, base)) and (start + base - lo) % HPAGE_NR:
            split_huge_pmd(c, m, pid, base, "move_page_tables")
    for vma in pieces:
        S.remove_vma(m, pid, S.vma_lookup(m, pid, vma.start))
    # the new place is above every VMA: the moved pieces go last, in address order
    for vma in pieces:
        new_start = start + vma.start - lo
        S.insert_vma(
            m,
            pid,
            S.nr_vmas(m, pid),
            start=new_start,
            npages=vma.npages,
            flags=vma.flags,
            name=to,
            file=vma.file,
            pgoff=vma.pgoff,
            base=start,
        )
        for vpn in range(vma.start, vma.end):
            pte = S.pte_at(m, pid, vpn)
            if pte:
                S.pte_clear(m, pid, vpn)
                S.set_pte_at(m, pid, new_start + vpn - vma.start, pte)
                moved.append((vpn, new_start + vpn - vma.start))
    # move_page_tables() gives moved PTEs a page table of PTEs at their new place
    for _, new in moved:
        if not pte_pmd_mapped(S.pte_at(m, pid, new)):
            S.set_pmd_pte_table(m, pid, pmd_base(new), True)
    free_pgtables(m, pid)
    c.note(
        "mremap",
        f"{S.mm_name(m, pid)}: {region} {vpn_range(lo, hi)} moved to {to} = "
        f"{vpn_range(start, start + hi - lo)}",
    )
    c.emit(Moved(pid, tuple(moved)))
    return m
