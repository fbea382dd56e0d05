"""Scenario actions -> kernel operations, resolving names against the machine."""

from __future__ import annotations

from typing import NamedTuple

from cowlab.engine.boot import resolve_addr, thread_index
from cowlab.kernel.access import AccessOp
from cowlab.kernel.gup import FLAG_VALUES, FOLL_GET, FOLL_PIN
from cowlab.kernel.io_uring import IoUringRegisterOp
from cowlab.kernel.proc_mem import ProcMemWriteOp
from cowlab.kernel.step import DmaReadOp, DmaWriteOp, GupOp, LruDrainOp, MoveOp, ReclaimOp
from cowlab.kernel.syscalls import (
    ClearRefsOp,
    ExitOp,
    ForkOp,
    MadviseOp,
    MmapOp,
    MprotectOp,
    MremapOp,
    MunmapOp,
    NumaScanOp,
    PipeReadOp,
    UnpinOp,
)
from cowlab.model import (
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_MAYSHARE,
    VM_MTHP,
    VM_SHARED,
    ZERO_PFN,
    Machine,
    prot_flags,
)
from cowlab.model import state as S
from cowlab.model.pte import pte_pfn, pte_present
from cowlab.model.state.convert import region_span, vma_named
from cowlab.model.swap import HUGETLBFS
from cowlab.scenario import (
    ClearRefs,
    DmaRead,
    DmaWrite,
    Exit,
    Fork,
    LruDrain,
    Madvise,
    Mmap,
    Move,
    Mprotect,
    Mremap,
    Munmap,
    NumaScan,
    Pin,
    PipeRead,
    ProcMemRead,
    ProcMemWrite,
    Read,
    Reclaim,
    ScenarioError,
    Unpin,
    Vmsplice,
    Write,
)
from cowlab.scenario.actions import Action


def _region(m: Machine, pid: int, name: str) -> str:
    if vma_named(m, pid, name) is None:
        raise ScenarioError(f"{S.mm_name(m, pid)} has no region {name!r} mapped")
    return name


def _range(m: Machine, pid: int, name: str, first: int, count: int | None) -> tuple[int, int]:
    """The vpns ``lo``..``hi`` (exclusive) of pages ``first``.. of a region."""
    span = region_span(m, pid, _region(m, pid, name))
    assert span is not None
    size = span[1] - span[0]
    count = size - first if count is None else count
    if first + count > size or count < 1:
        raise ScenarioError(f"pages {first}..{first + count - 1} are outside region {name} ({size} page(s))")
    return span[0] + first, span[0] + first + count


def _ref(m: Machine, name: str, *, write: bool = False) -> str:
    ref = S.ref_named(m, name)
    if ref < 0:
        raise ScenarioError(f"no pin or pipe named {name!r} is held")
    if write and not S.ref_write(m, ref):
        raise ScenarioError(f"{name!r} is a read-only reference: the device cannot write")
    return name


def gup_flags(names: tuple[str, ...]) -> int:
    flags = 0
    for name in names:
        flags |= FLAG_VALUES[name]
    if flags & FOLL_GET and flags & FOLL_PIN:
        raise ScenarioError("FOLL_GET and FOLL_PIN are exclusive")
    if not flags & (FOLL_GET | FOLL_PIN):
        flags |= FOLL_GET
    return flags


def thread_op(m: Machine, ti: int, action: Action) -> NamedTuple:
    """The kernel operation a thread's action starts."""
    pid = S.task_pid(m, ti)
    match action:
        case Write(addr=addr) | Read(addr=addr):
            _, vpn = resolve_addr(m, pid, addr)
            return AccessOp(pid, vpn, type(action) is Write)
        case Mmap(
            name=name, pages=pages, prot=prot, file=file, hugetlb=hugetlb, thp=thp, mthp=mthp, shared=shared
        ):
            if vma_named(m, pid, name) is not None:
                raise ScenarioError(f"region {name!r} is already mapped")
            if file:  # a mapping of a hugetlbfs file is a hugetlb mapping (is_file_hugepages)
                hugetlb = S.file_fs(m, S.file_named(m, file)) == HUGETLBFS
            flags = prot_flags(prot) | (VM_HUGETLB if hugetlb else 0) | (VM_HUGEPAGE if thp or mthp else 0)
            flags |= VM_MTHP if mthp else 0
            flags |= VM_SHARED | VM_MAYSHARE if shared else 0
            return MmapOp(pid, name, pages, flags, file or "")
        case Mremap(region=region, to=to, first=first, count=count):
            if vma_named(m, pid, to) is not None:
                raise ScenarioError(f"region {to!r} is already mapped")
            return MremapOp(pid, region, to, *_range(m, pid, region, first, count))
        case ProcMemWrite(addr=addr) | ProcMemRead(addr=addr):
            _, vpn = resolve_addr(m, pid, addr)
            # one reference per caller: two threads may use /proc/self/mem at once
            return ProcMemWriteOp(
                pid,
                vpn,
                f"/proc/{S.mm_name(m, pid)}/mem:{S.task_name(m, ti)}",
                write=type(action) is ProcMemWrite,
            )
        case Munmap(region=region, first=first, count=count):
            return MunmapOp(pid, region, *_range(m, pid, region, first, count))
        case Mprotect(region=region, prot=prot, first=first, count=count):
            return MprotectOp(pid, region, prot_flags(prot), *_range(m, pid, region, first, count))
        case Madvise(region=region, advice=advice, first=first, count=count):
            return MadviseOp(pid, region, advice, *_range(m, pid, region, first, count))
        case Fork(child=child, thread=thread):
            if any(S.mm_name(m, p) == child for p in range(S.nr_processes(m))):
                raise ScenarioError(f"a process named {child!r} already exists")
            if thread_index(m, thread or child) is not None:
                raise ScenarioError(f"a thread named {thread or child!r} already exists")
            return ForkOp(child, thread or child)
        case Exit():
            return ExitOp(pid)
        case Pin(addr=addr, name=name, flags=flags, fast=fast, by=by, expect=expect):
            if S.ref_named(m, name) >= 0:
                raise ScenarioError(f"a reference named {name!r} is already held")
            _, vpn = resolve_addr(m, pid, addr)
            if by == "io_uring":
                return IoUringRegisterOp(pid, vpn, name, expect or "")
            return GupOp(pid, vpn, gup_flags(flags), name, "device", fast, expect or "")
        case Vmsplice(addr=addr, name=name):
            if S.ref_named(m, name) >= 0:
                raise ScenarioError(f"a reference named {name!r} is already held")
            _, vpn = resolve_addr(m, pid, addr)
            return GupOp(pid, vpn, FOLL_GET, name, "pipe", True)
        case Unpin(name=name):
            return UnpinOp(_ref(m, name))
        case PipeRead(name=name):
            return PipeReadOp(_ref(m, name))
        case NumaScan():
            return NumaScanOp(pid)
        case ClearRefs():
            return ClearRefsOp(pid)
    raise ScenarioError(f"a thread cannot do {type(action).__name__}")


def reclaim_op(m: Machine, action: Reclaim) -> ReclaimOp | None:
    """kswapd's target: the page mapped at the address (None if nothing is mapped)."""
    pid, vpn = resolve_addr(m, None, action.addr)
    pte = S.pte_at(m, pid, vpn)
    if not pte_present(pte) or pte_pfn(pte) == ZERO_PFN:
        return None
    return ReclaimOp(pte_pfn(pte))


def outside_op(m: Machine, action: Action) -> NamedTuple:
    """A device or kernel action."""
    match action:
        case DmaWrite(pin=name):
            return DmaWriteOp(_ref(m, name, write=True))
        case DmaRead(pin=name):
            return DmaReadOp(_ref(m, name))
        case LruDrain(node=node):
            if node is not None and node >= m.nodes:
                raise ScenarioError(f"node {node} does not exist ({m.nodes} nodes)")
            return LruDrainOp(node)
        case Move(thread=name, node=node):
            ti = thread_index(m, name)
            if ti is None:
                raise ScenarioError(f"no thread named {name!r}")
            if node >= m.nodes:
                raise ScenarioError(f"node {node} does not exist ({m.nodes} nodes)")
            return MoveOp(ti, node)
    raise ScenarioError(f"{type(action).__name__} is not a device or kernel action")
