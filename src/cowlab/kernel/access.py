"""CPU loads and stores by a thread (the arch fault handler, do_user_addr_fault).

An access that the PTE allows completes; otherwise the fault is handled and the
access is retried as the thread's next step, as the CPU re-executes the instruction.
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import pop, stage
from cowlab.kernel.memory import handle_mm_fault
from cowlab.model import Frame, Machine
from cowlab.model import state as S
from cowlab.model.events import Load, Store
from cowlab.model.pte import pte_mkdirty, pte_mkyoung, pte_pfn, pte_present, pte_protnone, pte_write
from cowlab.model.state.convert import vma_at


class AccessOp(NamedTuple):
    pid: int
    vpn: int
    write: bool


@stage("access", choices=("trylock_fail",))
def user_access(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Try the load/store; fault if the PTE does not allow it."""
    op: AccessOp = frame.locals  # type: ignore[assignment]
    vma = vma_at(m, op.pid, op.vpn)
    what = "write" if op.write else "read"
    if vma is None or not vma.accessible or (op.write and not vma.writable):
        c.decide("do_user_addr_fault", f"{what} at vpn {op.vpn:#x} not allowed -> SIGSEGV")
        return pop(m, ti, "segv")
    pte = S.pte_at(m, op.pid, op.vpn)
    if pte_present(pte) and not pte_protnone(pte) and (pte_write(pte) or not op.write):
        pfn = pte_pfn(pte)
        if op.write:
            token = S.take_token(m)
            S.set_page_content(m, pfn, token)
            S.set_pte_at(m, op.pid, op.vpn, pte_mkyoung(pte_mkdirty(pte)))
            c.emit(Store(op.pid, op.vpn, token, pfn))
        else:
            c.emit(Load(op.pid, op.vpn, S.page_content(m, pfn)))
        return pop(m, ti, "done")
    handle_mm_fault(c, m, ti, op.pid, op.vpn, write=op.write)
    return m
