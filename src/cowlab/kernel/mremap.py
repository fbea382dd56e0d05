"""mremap() (mm/mremap.c move_vma / move_page_tables): part of a region moves to a new
place.  The pages do not change: their PTEs move, with their counts.  A PMD-mapped THP
that the moved range cuts through is split first, so a "partially mremap()'ed THP"
ends up mapped by PTEs in two VMAs (cow.c's backing of that name)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.huge_memory import pmd_base, tables_in_use
from cowlab.kernel.pgtable import pte_clear, set_pte
from cowlab.kernel.vma import range_vmas
from cowlab.model import HPAGE_NR, VM_HUGEPAGE, Machine
from cowlab.model.events import Moved
from cowlab.model.pte import pte_pmd_mapped, pte_present, pte_t


def do_mremap(c: Ctx, m: Machine, pid: int, region: str, to: str, lo: int, hi: int) -> Machine:
    m, pieces = range_vmas(c, m, pid, region, lo, hi)
    proc = m.processes[pid]
    start = proc.next_free_vpn()
    if any(v.flags & VM_HUGEPAGE for v in pieces):
        # keep the PMD offset, so that whole PMDs could move as they are
        start += (lo - start) % HPAGE_NR
    moved: list[tuple[int, int]] = []
    vmas = [v for v in proc.vmas if v not in pieces]
    for vma in pieces:
        new_start = start + vma.start - lo
        vmas.append(vma._replace(name=to, start=new_start, base=start))
        for vpn, pte in proc.ptes:
            if vma.contains(vpn):
                m = pte_clear(m, pid, vpn)
                m = set_pte(m, pid, new_start + vpn - vma.start, pte)
                moved.append((vpn, new_start + vpn - vma.start))
    vmas.sort(key=lambda v: v.start)
    proc = m.processes[pid]
    tables = {*proc.pte_tables,
              *(pmd_base(new) for _, new in moved if not _is_pmd(proc.pte(new)))}
    m = m.with_process(proc._replace(vmas=tuple(vmas), pte_tables=tables_in_use(tables, vmas)))
    c.note("mremap", f"{proc.name}: {region} vpn {lo:#x}..{hi - 1:#x} moved to {to} = vpn "
           f"{start:#x}..{start + hi - lo - 1:#x}")
    c.emit(Moved(pid, tuple(moved)))
    return m


def _is_pmd(pte: pte_t) -> bool:
    return pte_present(pte) and pte_pmd_mapped(pte)
