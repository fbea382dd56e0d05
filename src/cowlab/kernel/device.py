"""What holders of GUP references do with them: a device's DMA through its pin
(drivers/*), and a pipe read of a vmspliced page (fs/pipe.c, fs/splice.c)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.gup import unpin_user_page
from cowlab.model import Machine
from cowlab.model import state as S
from cowlab.model.events import DeviceLoad, DeviceStore


def dma_write(c: Ctx, m: Machine, name: str) -> Machine:
    """The device writes a new token into the pinned page, bypassing page tables."""
    ref = S.ref_named(m, name)
    assert ref >= 0 and S.ref_write(m, ref)
    token = S.take_token(m)
    S.set_page_content(m, S.ref_pfn(m, ref), token)
    c.emit(DeviceStore(name, token))
    return m


def dma_read(c: Ctx, m: Machine, name: str) -> Machine:
    ref = S.ref_named(m, name)
    assert ref >= 0
    c.emit(DeviceLoad(name, S.page_content(m, S.ref_pfn(m, ref))))
    return m


def pipe_read(c: Ctx, m: Machine, name: str) -> Machine:
    """Read what the pipe's page reference sees, then release it (the buffer is consumed)."""
    dma_read(c, m, name)
    return unpin_user_page(c, m, name)
