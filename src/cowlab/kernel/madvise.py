"""madvise() (mm/madvise.c): DONTNEED zaps, DONTFORK/WIPEONFORK set VMA flags, PAGEOUT
reclaims (in vmscan.py)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx, vpn_range
from cowlab.kernel.huge_memory import madvise_collapse
from cowlab.kernel.mmap import file_mapping, fresh_contents, zap_pte_range
from cowlab.kernel.vma import range_vmas
from cowlab.model import VM_DONTCOPY, VM_HUGEPAGE, VM_WIPEONFORK, Machine
from cowlab.model import state as S
from cowlab.model.events import Zapped

_FLAG_ADVICE = {
    "hugepage": (VM_HUGEPAGE, True),
    "nohugepage": (VM_HUGEPAGE, False),
    "dontfork": (VM_DONTCOPY, True),
    "dofork": (VM_DONTCOPY, False),
    "wipeonfork": (VM_WIPEONFORK, True),
    "keeponfork": (VM_WIPEONFORK, False),
}


def do_madvise(c: Ctx, m: Machine, pid: int, region: str, advice: str, lo: int, hi: int) -> Machine:
    if advice == "collapse":
        if not c.r.madv_collapse:
            c.decide("madvise", "MADV_COLLAPSE is unknown to this kernel -> -EINVAL", "madv_collapse")
            return m
        return madvise_collapse(c, m, pid, lo, hi)
    m, pieces = range_vmas(c, m, pid, region, lo, hi)
    if advice == "dontneed":
        for vma in pieces:
            m = zap_pte_range(c, m, pid, vma)
            vpns = tuple(range(vma.start, vma.end))
            c.emit(Zapped(pid, vpns, False, fresh_contents(m, vma), *file_mapping(m, vma)))
        file = pieces[0].file if pieces else ""
        c.note(
            "madvise",
            f"MADV_DONTNEED {region} {vpn_range(lo, hi)}: mappings dropped, "
            "next touch reads " + (f"{file} again" if file else "zero"),
        )
        return m
    flag, on = _FLAG_ADVICE[advice]
    for vma in pieces:
        slot = S.vma_lookup(m, pid, vma.start)
        flags = S.vma_flags(m, pid, slot)
        S.set_vma_flags(m, pid, slot, (flags | flag) if on else (flags & ~flag))
    c.note("madvise", f"MADV_{advice.upper()} {region} {vpn_range(lo, hi)}")
    return m
