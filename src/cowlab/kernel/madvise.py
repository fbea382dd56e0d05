"""madvise() (mm/madvise.c): DONTNEED zaps, DONTFORK/WIPEONFORK set VMA flags, PAGEOUT
reclaims (in vmscan.py)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.mmap import fresh_contents, zap_pte_range
from cowlab.model import VM_DONTCOPY, VM_WIPEONFORK, Machine
from cowlab.model.events import Zapped

_FLAG_ADVICE = {
    "dontfork": (VM_DONTCOPY, True),
    "dofork": (VM_DONTCOPY, False),
    "wipeonfork": (VM_WIPEONFORK, True),
    "keeponfork": (VM_WIPEONFORK, False),
}


def do_madvise(c: Ctx, m: Machine, pid: int, region: str, advice: str) -> Machine:
    proc = m.processes[pid]
    vma = proc.vma_named(region)
    assert vma is not None
    if advice == "dontneed":
        m = zap_pte_range(c, m, pid, vma)
        c.note("madvise", f"MADV_DONTNEED {region}: mappings dropped, next touch reads "
               + (f"{vma.file} again" if vma.file else "zero"))
        c.emit(Zapped(pid, tuple(range(vma.start, vma.end)), False, fresh_contents(m, vma)))
        return m
    flag, on = _FLAG_ADVICE[advice]
    new = vma._replace(flags=(vma.flags | flag) if on else (vma.flags & ~flag))
    m = m.with_process(proc._replace(vmas=tuple(new if v is vma else v for v in proc.vmas)))
    c.note("madvise", f"MADV_{advice.upper()} {region}")
    return m
