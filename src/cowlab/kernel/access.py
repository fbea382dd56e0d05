"""CPU loads and stores by a thread (the arch fault handler, do_user_addr_fault).

An access that the PTE allows completes; otherwise the fault is handled and the
access is retried as the thread's next step, as the CPU re-executes the instruction.
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import pop, stage
from cowlab.kernel.memory import handle_mm_fault
from cowlab.kernel.pgtable import set_pte
from cowlab.model import Frame, Machine
from cowlab.model.events import Load, Store
from cowlab.model.pte import pte_mkdirty, pte_mkyoung, pte_pfn, pte_present, pte_protnone, pte_write


class AccessOp(NamedTuple):
    pid: int
    vpn: int
    write: bool


@stage("access", choices=("trylock_fail",))
def user_access(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Try the load/store; fault if the PTE does not allow it."""
    op: AccessOp = frame.locals  # type: ignore[assignment]
    proc = m.processes[op.pid]
    vma = proc.vma_at(op.vpn)
    what = "write" if op.write else "read"
    if vma is None or not vma.accessible or (op.write and not vma.writable):
        c.decide("do_user_addr_fault", f"{what} at vpn {op.vpn:#x} not allowed -> SIGSEGV")
        return pop(m, ti, "segv")
    pte = proc.pte(op.vpn)
    if pte_present(pte) and not pte_protnone(pte) and (pte_write(pte) or not op.write):
        pfn = pte_pfn(pte)
        if op.write:
            m, token = m.take_token()
            page = m.page(pfn)
            m = m.with_page(pfn, page._replace(content=token))
            m = set_pte(m, op.pid, op.vpn, pte_mkyoung(pte_mkdirty(pte)))
            c.emit(Store(op.pid, op.vpn, token, pfn))
        else:
            c.emit(Load(op.pid, op.vpn, m.page(pfn).content))
        return pop(m, ti, "done")
    m, _ = handle_mm_fault(c, m, ti, op.pid, op.vpn, write=op.write)
    return m
