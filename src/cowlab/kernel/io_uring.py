"""io_uring's fixed buffers (IORING_REGISTER_BUFFERS, io_sqe_buffer_register in
fs/io_uring.c, later io_uring/rsrc.c): a long-term write pin of the buffer, then, up
to v6.4, io_uring's own look at the buffer's VMAs.  That check refused file-backed
memory with -EOPNOTSUPP, shared or private, except hugetlbfs files and, from
40dad765c045 (v5.14), shmem; 34ed8d0dcd69 (v6.5) left the decision to GUP
(8ac268436e6d).  From 1943f96b3816 (v6.10) the pin goes through GUP-fast first.
docs/research/iouring-file-buffers.md has the history."""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import pop, push, stage
from cowlab.kernel.gup import FOLL_LONGTERM, FOLL_PIN, FOLL_WRITE, gup_frame, unpin_user_page
from cowlab.kernel.vma import vma_file_fs
from cowlab.model import Frame, Machine
from cowlab.model import state as S
from cowlab.model.events import CallReturned
from cowlab.model.state.convert import vma_at
from cowlab.model.swap import fs_has_writeback

#: the GUP flags io_uring registers buffers with
IOURING_PIN_FLAGS = FOLL_PIN | FOLL_WRITE | FOLL_LONGTERM


class IoUringRegisterOp(NamedTuple):
    """io_uring_register(IORING_REGISTER_BUFFERS) of the page at ``vpn``, the buffer
    named ``name``."""

    pid: int
    vpn: int
    name: str
    #: the outcome the program expects ("ok", "refused"; "" for none)
    expect: str = ""


def io_uring_register_frames(c: Ctx, m: Machine, ti: int, op: IoUringRegisterOp) -> Machine:
    """The registration's own frame, with GUP's frames on top of it (none before
    io_uring existed)."""
    m = push(m, ti, Frame("io_uring.register", op))
    if not c.r.iouring_fixed_buffers:
        return m
    fast = c.r.iouring_pin_fast
    c.decide(
        "io_pin_pages",
        ("pin_user_pages_fast" if fast else "pin_user_pages") + "(FOLL_WRITE|FOLL_LONGTERM)",
        "iouring_pin_fast",
    )
    return push(m, ti, gup_frame(c, op.pid, op.vpn, IOURING_PIN_FLAGS, op.name, "device", fast))


@stage("io_uring.register")
def io_sqe_buffer_register(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """After the pin: up to v6.4, refuse a buffer in a file-backed VMA (the pin is
    dropped again; the write faults it took stay)."""
    op: IoUringRegisterOp = frame.locals  # type: ignore[assignment]
    fn = "io_sqe_buffer_register"
    if not c.r.iouring_fixed_buffers:
        c.decide("io_uring_register", "no such system call before v5.1 -> -ENOSYS", "iouring_fixed_buffers")
        return _returns(c, m, ti, op, "enosys")
    if frame.result != "done" or S.ref_named(m, op.name) < 0:
        c.decide(fn, "pinning failed -> -EFAULT")
        return _returns(c, m, ti, op, "efault")
    refused = _file_backed_refusal(c, m, op)
    if refused:
        c.decide(fn, f"{refused} -> unpin, -EOPNOTSUPP", "iouring_delegates_file_check")
        m = unpin_user_page(c, m, op.name)
        return _returns(c, m, ti, op, "eopnotsupp")
    return _returns(c, m, ti, op, "done")


def _returns(c: Ctx, m: Machine, ti: int, op: IoUringRegisterOp, result: str) -> Machine:
    c.emit(CallReturned(op.pid, "io_uring_register", op.name, result, op.expect))
    return pop(m, ti, result)


def _file_backed_refusal(c: Ctx, m: Machine, op: IoUringRegisterOp) -> str:
    """Why io_uring's own VMA check refuses the buffer, "" if it takes it."""
    if c.r.iouring_delegates_file_check:
        return ""
    vma = vma_at(m, op.pid, op.vpn)
    if vma is None or not vma.file or vma.hugetlb:
        return ""
    fs = vma_file_fs(m, vma)
    if not fs_has_writeback(fs) and c.r.iouring_shmem_buffers:
        c.decide("io_sqe_buffer_register", f"{vma.name}: a shmem file -> accepted", "iouring_shmem_buffers")
        return ""
    return f"{vma.name} maps {vma.file}, a file on {fs}: file-backed buffers are not supported"
