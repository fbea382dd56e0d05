"""What holders of GUP references do with them: a device's DMA through its pin
(drivers/*), and a pipe read of a vmspliced page (fs/pipe.c, fs/splice.c)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.gup import unpin_user_page
from cowlab.model import Machine
from cowlab.model.events import DeviceLoad, DeviceStore


def dma_write(c: Ctx, m: Machine, name: str) -> Machine:
    """The device writes a new token into the pinned page, bypassing page tables."""
    ref = m.ref_named(name)
    assert ref is not None and ref.write
    m, token = m.take_token()
    page = m.page(ref.pfn)
    m = m.with_page(ref.pfn, page._replace(content=token))
    c.emit(DeviceStore(name, token))
    return m


def dma_read(c: Ctx, m: Machine, name: str) -> Machine:
    ref = m.ref_named(name)
    assert ref is not None
    c.emit(DeviceLoad(name, m.page(ref.pfn).content))
    return m


def pipe_read(c: Ctx, m: Machine, name: str) -> Machine:
    """Read what the pipe's page reference sees, then release it (the buffer is consumed)."""
    m = dma_read(c, m, name)
    return unpin_user_page(c, m, name)
