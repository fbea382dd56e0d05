"""The step function: start an operation, advance a thread by one atomic stage, or
apply a device/kernel action.  Pure: (kernel, machine, action) -> machine + events."""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel import (  # noqa: F401  (each registers its stages)
    access,
    io_uring,
    migrate,
    numa_fault,
    numa_fault_huge,
    proc_mem,
    syscalls,
    vmscan,
)
from cowlab.kernel.access import AccessOp
from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.kernel.device import dma_read, dma_write
from cowlab.kernel.frames import STAGES, WAITS, push, top
from cowlab.kernel.gup import gup_frame
from cowlab.kernel.io_uring import IoUringRegisterOp, io_uring_register_frames
from cowlab.kernel.lru import lru_add_drain
from cowlab.kernel.numa import sched_move
from cowlab.kernel.proc_mem import ProcMemWriteOp, proc_mem_frames
from cowlab.kernel.syscalls import MMAP_WRITE_ADVICE, MMAP_WRITE_STAGES, OP_STAGES, MadviseOp
from cowlab.kernel.vmscan import reclaim_frame
from cowlab.model import Frame, Machine
from cowlab.model import state as S
from cowlab.model.pte import pte_present, pte_protnone, pte_write


class GupOp(NamedTuple):
    pid: int
    vpn: int
    flags: int
    name: str
    holder: str
    fast: bool
    #: the outcome the driver expects ("ok", "refused"; "" for none: then no caller
    #: frame is kept, and the pin's return is not looked at)
    expect: str = ""


class ReclaimOp(NamedTuple):
    pfn: int


class DmaWriteOp(NamedTuple):
    name: str


class DmaReadOp(NamedTuple):
    name: str


class LruDrainOp(NamedTuple):
    node: int | None


class MoveOp(NamedTuple):
    thread: int
    node: int


def start(c: Ctx, m: Machine, ti: int, op: NamedTuple) -> Machine:
    """Begin a thread's operation: push its first frame (nothing runs yet)."""
    if S.task_depth(m, ti):
        raise ModelBugError("start on a busy thread")
    if type(op) is GupOp:
        if op.expect:  # the driver's call, which looks at what pin_user_pages returns
            m = push(m, ti, Frame("gup.returns", op))
        frame = gup_frame(c, op.pid, op.vpn, op.flags, op.name, op.holder, op.fast)
    elif type(op) is ReclaimOp:
        frame = reclaim_frame(op.pfn)
    elif type(op) is AccessOp:
        frame = Frame("access", op)
    elif type(op) is ProcMemWriteOp:
        return proc_mem_frames(c, m, ti, op)
    elif type(op) is IoUringRegisterOp:
        return io_uring_register_frames(c, m, ti, op)
    else:
        frame = Frame(OP_STAGES[type(op)], op)
    return push(m, ti, frame)


def mmap_write_holder(m: Machine, ti: int) -> str | None:
    """The thread of ``ti``'s process that holds its mmap_lock for writing (a fork
    between its pinned check and its copy of the page tables), or None."""
    pid = S.task_pid(m, ti)
    stage_name = m.L.symbols.name  # type: ignore[attr-defined]
    for other in range(S.nr_threads(m)):
        if (
            other != ti
            and S.task_pid(m, other) == pid
            and S.task_depth(m, other)
            and stage_name(S.frame_stage(m, other)) == "fork.copy_page_range"
        ):
            return S.task_name(m, other)
    return None


def blocked(m: Machine, ti: int) -> str | None:
    """Why the thread's next stage cannot run now, or None."""
    if not S.task_depth(m, ti):
        return None
    frame = top(m, ti)
    wait = WAITS.get(frame.stage)
    if wait is not None:
        return wait(m, ti, frame)
    pid = S.task_pid(m, ti)
    stage_name = m.L.symbols.name  # type: ignore[attr-defined]
    if frame.stage not in MMAP_LOCK_FREE_STAGES and not _access_needs_no_fault(m, frame):
        writer = mmap_write_holder(m, ti)
        if writer is not None:
            return f"mmap_lock is held for writing by {writer} (forking)"
    needs_write = frame.stage in MMAP_WRITE_STAGES or (
        type(frame.locals) is MadviseOp and frame.locals.advice in MMAP_WRITE_ADVICE
    )
    if needs_write:
        for other in range(S.nr_threads(m)):
            if other != ti and S.task_pid(m, other) == pid and S.task_depth(m, other):
                return (
                    f"mmap_lock is held for reading by {S.task_name(m, other)} "
                    f"(at {stage_name(S.frame_stage(m, other))})"
                )
    return None


#: stages that take no mmap_lock: lockless GUP-fast, and calls that touch no page tables
MMAP_LOCK_FREE_STAGES = frozenset({"gup.fast", "sys.pipe_read", "sys.unpin"})


def _access_needs_no_fault(m: Machine, frame: Frame) -> bool:
    """A load or store the PTE allows runs without the kernel (and without mmap_lock)."""
    if frame.stage != "access":
        return False
    op: AccessOp = frame.locals  # type: ignore[assignment]
    pte = S.pte_at(m, op.pid, op.vpn)
    return pte_present(pte) and not pte_protnone(pte) and (pte_write(pte) or not op.write)


def advance(c: Ctx, m: Machine, ti: int) -> Machine:
    """Run the thread's next stage (one atomic step)."""
    frame = top(m, ti)
    return STAGES[frame.stage](c, m, ti, frame)


def apply(c: Ctx, m: Machine, op: NamedTuple) -> Machine:
    """An action of the device or the kernel outside any thread: one atomic step."""
    if type(op) is DmaWriteOp:
        return dma_write(c, m, op.name)
    if type(op) is DmaReadOp:
        return dma_read(c, m, op.name)
    if type(op) is LruDrainOp:
        return lru_add_drain(c, m, op.node)
    if type(op) is MoveOp:
        return sched_move(c, m, op.thread, op.node)
    raise ModelBugError(f"unknown action {op!r}")
