"""System calls a thread makes, each one atomic step under its lock.

Calls that take mmap_lock for writing (mmap, munmap, mprotect, madvise flags,
fork, exit) cannot start while another thread of the process is inside a fault
or GUP, which holds mmap_lock for reading across its stages.
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.device import pipe_read
from cowlab.kernel.fork import do_fork, early_cow_vpns
from cowlab.kernel.frames import pop, replace_top, stage
from cowlab.kernel.gup import unpin_user_page
from cowlab.kernel.madvise import do_madvise
from cowlab.kernel.mmap import do_mmap, do_munmap, exit_mmap
from cowlab.kernel.mprotect import mprotect
from cowlab.kernel.mremap import do_mremap
from cowlab.kernel.numa import task_numa_work
from cowlab.kernel.task_mmu import clear_refs_soft_dirty
from cowlab.kernel.vmscan import PageoutLocals
from cowlab.model import Frame, Machine
from cowlab.model import state as S
from cowlab.model.state import FlatMachine


class MmapOp(NamedTuple):
    pid: int
    name: str
    npages: int
    flags: int
    file: str = ""


class MunmapOp(NamedTuple):
    pid: int
    region: str
    lo: int
    hi: int


class MprotectOp(NamedTuple):
    pid: int
    region: str
    flags: int
    lo: int
    hi: int


class MadviseOp(NamedTuple):
    pid: int
    region: str
    advice: str
    lo: int
    hi: int


class MremapOp(NamedTuple):
    pid: int
    region: str
    to: str
    lo: int
    hi: int


class ForkOp(NamedTuple):
    child: str
    thread: str


class ExitOp(NamedTuple):
    pid: int


class UnpinOp(NamedTuple):
    name: str


class PipeReadOp(NamedTuple):
    name: str


class NumaScanOp(NamedTuple):
    pid: int


class ClearRefsOp(NamedTuple):
    pid: int


#: the stage each operation starts at
OP_STAGES: dict[type, str] = {
    MmapOp: "sys.mmap",
    MunmapOp: "sys.munmap",
    MprotectOp: "sys.mprotect",
    MadviseOp: "sys.madvise",
    MremapOp: "sys.mremap",
    ForkOp: "sys.fork",
    ExitOp: "sys.exit",
    UnpinOp: "sys.unpin",
    PipeReadOp: "sys.pipe_read",
    NumaScanOp: "task_numa_work",
    ClearRefsOp: "sys.clear_refs",
}

#: stages that need mmap_lock for writing
MMAP_WRITE_STAGES = frozenset(
    {"sys.mmap", "sys.munmap", "sys.mprotect", "sys.mremap", "sys.fork", "sys.exit", "sys.clear_refs"}
)
MMAP_WRITE_ADVICE = frozenset(
    {"dontfork", "dofork", "wipeonfork", "keeponfork", "hugepage", "nohugepage", "collapse"}
)


@stage("sys.mmap")
def sys_mmap(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """mmap(MAP_PRIVATE|MAP_ANONYMOUS)."""
    op: MmapOp = frame.locals  # type: ignore[assignment]
    return pop(do_mmap(c, m, op.pid, op.name, op.npages, op.flags, op.file), ti)


@stage("sys.munmap")
def sys_munmap(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """munmap() of a whole region."""
    op: MunmapOp = frame.locals  # type: ignore[assignment]
    return pop(do_munmap(c, m, op.pid, op.region, op.lo, op.hi), ti)


@stage("sys.mprotect")
def sys_mprotect(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """mprotect() of a whole region."""
    op: MprotectOp = frame.locals  # type: ignore[assignment]
    return pop(mprotect(c, m, op.pid, op.region, op.flags, op.lo, op.hi), ti)


@stage("sys.madvise")
def sys_madvise(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """madvise(); MADV_PAGEOUT continues as reclaim stages."""
    op: MadviseOp = frame.locals  # type: ignore[assignment]
    if op.advice == "pageout":
        if not c.r.madv_pageout:
            c.decide("madvise", "MADV_PAGEOUT is unknown to this kernel -> -EINVAL", "madv_pageout")
            return pop(m, ti, "einval")
        locals_ = PageoutLocals(op.pid, tuple(range(op.lo, op.hi)))
        return replace_top(m, ti, Frame("madvise.pageout", locals_))
    return pop(do_madvise(c, m, op.pid, op.region, op.advice, op.lo, op.hi), ti)


@stage("sys.mremap")
def sys_mremap(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """mremap(MREMAP_MAYMOVE|MREMAP_FIXED) of part of a region."""
    op: MremapOp = frame.locals  # type: ignore[assignment]
    return pop(do_mremap(c, m, op.pid, op.region, op.to, op.lo, op.hi), ti)


class ForkLocals(NamedTuple):
    child: str
    thread: str
    early: tuple[int, ...]


@stage("sys.fork")
def sys_fork(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """fork(): take mmap_lock for writing, raise write_protect_seq (57efa1fe5957), and
    decide which maybe-pinned pages the child gets a copy of."""
    op: ForkOp = frame.locals  # type: ignore[assignment]
    pid = S.task_pid(m, ti)
    m = _bump_write_protect_seq(c, m, pid)
    early = early_cow_vpns(c, m, pid)
    return replace_top(m, ti, Frame("fork.copy_page_range", ForkLocals(op.child, op.thread, early)))


@stage("fork.copy_page_range")
def fork_copy(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Copy the page tables (sharing, write-protecting, or copying what the check chose),
    then drop write_protect_seq and mmap_lock."""
    loc: ForkLocals = frame.locals  # type: ignore[assignment]
    m = pop(m, ti)
    m = do_fork(c, m, ti, loc.child, loc.thread, loc.early)
    return _bump_write_protect_seq(c, m, S.task_pid(m, ti))


def _bump_write_protect_seq(c: Ctx, m: FlatMachine, pid: int) -> FlatMachine:
    """mm->write_protect_seq: odd while fork copies page tables (57efa1fe5957)."""
    if c.r.gup_fast_fork_seq:
        S.set_write_protect_seq(m, pid, S.write_protect_seq(m, pid) + 1)
    return m


@stage("sys.exit")
def sys_exit(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """exit_group(): the process and its threads go."""
    op: ExitOp = frame.locals  # type: ignore[assignment]
    return exit_mmap(c, pop(m, ti), op.pid)


@stage("sys.unpin")
def sys_unpin(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """The driver releases its references (unpin_user_page / put_page)."""
    op: UnpinOp = frame.locals  # type: ignore[assignment]
    return pop(unpin_user_page(c, m, op.name), ti)


@stage("sys.pipe_read")
def sys_pipe_read(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """read() from the pipe a page was vmspliced into."""
    op: PipeReadOp = frame.locals  # type: ignore[assignment]
    return pop(pipe_read(c, m, op.name), ti)


@stage("sys.clear_refs")
def sys_clear_refs(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """echo 4 > /proc/self/clear_refs: clear soft-dirty bits (29a951dfb3c3: mmap_lock for
    writing)."""
    op: ClearRefsOp = frame.locals  # type: ignore[assignment]
    return pop(clear_refs_soft_dirty(c, m, op.pid), ti)


@stage("task_numa_work")
def sys_numa_scan(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """One NUMA scan pass over the thread's mm (on return to user space)."""
    return pop(task_numa_work(c, m, ti), ti)
