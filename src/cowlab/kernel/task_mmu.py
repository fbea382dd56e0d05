"""/proc/PID/clear_refs (fs/proc/task_mmu.c): writing 4 clears soft-dirty bits, which
write-protects every present PTE so that the next write faults and marks it again.

A write-protected pinned page in a COW mapping is then copied by the next write
fault on v5.9-v5.10 (refcount != 1).  9348b73c2e1b "mm: don't play games with
pinned pages in clear_page_refs" (v5.11, stable 5.10.9) leaves such PTEs alone.
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.pages import page_maybe_dma_pinned
from cowlab.model import VM_SOFTDIRTY, ZERO_PFN, Machine
from cowlab.model import state as S
from cowlab.model.pte import pte_clear_soft_dirty, pte_pfn, pte_present, pte_wrprotect
from cowlab.model.state.convert import vma_at


def clear_refs_soft_dirty(c: Ctx, m: Machine, pid: int) -> Machine:
    fn = "clear_soft_dirty"
    for slot in range(S.nr_vmas(m, pid)):
        S.set_vma_flags(m, pid, slot, S.vma_flags(m, pid, slot) & ~VM_SOFTDIRTY)
    for vpn in list(S.mapped_vpns(m, pid)):
        pte = S.pte_at(m, pid, vpn)
        if not pte_present(pte):
            continue
        vma = vma_at(m, pid, vpn)
        assert vma is not None
        if vma.hugetlb:
            continue  # the clear_refs page walk has no hugetlb handler
        pfn = pte_pfn(pte)
        if c.r.clear_refs_skip_pinned and pfn != ZERO_PFN and vma.is_cow_mapping:
            pinned_mm = S.mm_has_pinned(m, pid) or not c.r.mm_has_pinned
            if pinned_mm and page_maybe_dma_pinned(m, pfn):
                c.decide(
                    fn, f"vpn {vpn:#x}: pfn {pfn} maybe pinned -> leave the PTE", "clear_refs_skip_pinned"
                )
                continue
        S.set_pte_at(m, pid, vpn, pte_clear_soft_dirty(pte_wrprotect(pte)))
        c.decide(fn, f"vpn {vpn:#x}: write-protect, clear soft-dirty", "clear_refs_skip_pinned")
    return m
