"""read() and write() of /proc/PID/mem (fs/proc/base.c mem_rw -> access_remote_vm): GUP with
FOLL_FORCE|FOLL_WRITE takes a reference on the page, the kernel copies the data into
that page, and drops the reference.  This is the path Dirty COW (CVE-2016-5195) races:
the page GUP returns is the one written, whatever the page tables say by then."""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import pop, push, stage
from cowlab.kernel.gup import FOLL_FORCE, FOLL_GET, FOLL_WRITE, gup_frame, unpin_user_page
from cowlab.model import Frame, Machine
from cowlab.model import state as S
from cowlab.model.events import Load, Store


class ProcMemWriteOp(NamedTuple):
    pid: int
    vpn: int
    name: str
    #: False for a read(): GUP without FOLL_WRITE, and the data is copied out
    write: bool = True


def proc_mem_frames(c: Ctx, m: Machine, ti: int, op: ProcMemWriteOp) -> Machine:
    """The write's own frame, with GUP's frames on top of it."""
    m = push(m, ti, Frame("proc_mem.write", op))
    flags = FOLL_FORCE | FOLL_GET | (FOLL_WRITE if op.write else 0)
    return push(m, ti, gup_frame(c, op.pid, op.vpn, flags, op.name, "kernel", False))


@stage("proc_mem.write")
def mem_rw_copy(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Copy the data into the page GUP returned, then put_page()."""
    op: ProcMemWriteOp = frame.locals  # type: ignore[assignment]
    ref = S.ref_named(m, op.name)
    if frame.result != "done" or ref < 0:
        c.decide("mem_rw", "GUP failed -> -EIO")
        return pop(m, ti, "efault")
    pfn = S.ref_pfn(m, ref)
    if not op.write:
        c.emit(Load(op.pid, op.vpn, S.page_content(m, pfn), exact=False))
        m = unpin_user_page(c, m, op.name)
        return pop(m, ti, "done")
    token = S.take_token(m)
    S.set_page_content(m, pfn, token)
    owner = S.page_cache_owner(m, pfn)
    where = f"page-cache pfn {pfn} of {S.file_name(m, owner[0])}" if owner else f"pfn {pfn}"
    c.decide("mem_rw", f"copy the data into {where}")
    c.emit(Store(op.pid, op.vpn, token, pfn))
    m = unpin_user_page(c, m, op.name)
    return pop(m, ti, "done")
