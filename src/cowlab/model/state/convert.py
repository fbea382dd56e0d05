"""Between today's record machine (``cowlab.model.Machine``, immutable tuples) and the
compact vector (``FlatMachine``).

During the port (docs/design-notes/compact-state.md) this proves that the layout
holds everything a state has: every state a scenario or the checker reaches must
survive ``unflatten(flatten(m)) == m``.  After the switch, ``unflatten`` is how traces,
JSON and HTML see a vector state: as the records users know.

Frame locals are NamedTuples of the kernel's operations; each field's kind comes from
its annotation: ``int``, ``bool``, ``str`` (a symbol), ``int | None``, ``tuple[int,
...]`` (a length, then the values) and page-table entries (a ``pte_t``).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import replace
from typing import Any

from cowlab.model.layout import Bounds, Layout, LayoutOverflowError
from cowlab.model.machine import Machine
from cowlab.model.page import HPAGE_NR, NO_CPU, NO_HEAD, NO_SLOT, Page
from cowlab.model.state import gup, mm, page, swap, task
from cowlab.model.state.file import add_file, file_fs, file_name, file_nr_pages, file_original, file_page_pfn
from cowlab.model.state.machine import (
    FlatMachine,
    init_machine,
    next_token,
    nr_files,
    nr_node_ids,
    nr_processes,
    nr_threads,
    numa_balancing_enabled,
    set_nr_files,
    set_nr_processes,
    set_nr_threads,
)
from cowlab.model.swap import File, GupRef, SwapSlot
from cowlab.model.task import Frame, Process, Thread
from cowlab.model.vma import Vma

#: ``int | None`` stores None as this
NONE = -(2**31)

INT, BOOL, SYMBOL, OPT_INT, INTS, PTE = "int", "bool", "symbol", "int | None", "ints", "pte"
_KINDS = {"int": INT, "bool": BOOL, "str": SYMBOL, "int | None": OPT_INT, "tuple[int, ...]": INTS}

#: locals classes seen so far, by the symbol of their qualified name
_SCHEMAS: dict[str, type] = {}


@functools.cache
def locals_kinds(cls: type) -> tuple[tuple[str, str], ...]:
    """(field, kind) of a frame-locals NamedTuple, from its annotations."""
    notes = cls.__annotations__
    return tuple((f, _KINDS.get(_annotation(notes[f]), PTE)) for f in cls._fields)  # type: ignore[attr-defined]


def _annotation(note: object) -> str:
    """An annotation as written (NamedTuple keeps postponed ones as ForwardRef)."""
    if isinstance(note, str):
        return note
    return str(getattr(note, "__forward_arg__", note))


def _schema_class(key: str) -> type:
    """The locals class named ``module.QualName`` (imported on first use, so that a state
    loaded from a checkpoint decodes in a fresh process)."""
    cls = _SCHEMAS.get(key)
    if cls is None:
        module, _, name = key.rpartition(".")
        if not module.startswith("cowlab."):  # a name read from a file imports no other code
            raise ValueError(f"frame schema {key!r} is not one of cowlab's")
        cls = _SCHEMAS[key] = getattr(importlib.import_module(module), name)
    return cls


def frame_schema(layout: Layout, kind_sym: int) -> tuple[tuple[str, str], ...]:
    """(field, kind) of the locals of a frame whose schema symbol is ``kind_sym``."""
    if kind_sym == 0:
        return ()
    return locals_kinds(_schema_class(layout.symbols.name(kind_sym)))


def _encode_locals(layout: Layout, loc: object) -> tuple[int, tuple[int, ...]]:
    """(schema symbol, words) of a frame's locals.  Records are immutable and a search
    meets a few hundred distinct ones, so each is encoded once per symbol table (the
    memo lives in the table, whose names the encoding interned)."""
    if loc == ():
        return 0, ()
    memo = layout.symbols.encoded
    key = (type(loc), loc)
    try:
        hit = memo.get(key)
    except TypeError:  # a field that cannot be hashed: encode it every time
        return _encode_locals_now(layout, loc)
    if hit is None:
        if len(memo) >= _FRAMES_LIMIT:
            memo.clear()
        hit = memo[key] = _encode_locals_now(layout, loc)
    return hit


def _encode_locals_now(layout: Layout, loc: object) -> tuple[int, tuple[int, ...]]:
    cls = type(loc)
    key = f"{cls.__module__}.{cls.__qualname__}"
    _SCHEMAS[key] = cls
    words: list[int] = []
    for (_, kind), value in zip(locals_kinds(cls), loc, strict=True):  # type: ignore[arg-type, call-overload]
        if kind == SYMBOL:
            words.append(layout.symbols.intern(value))
        elif kind == OPT_INT:
            words.append(NONE if value is None else value)
        elif kind == INTS:
            words += [len(value), *value]
        else:
            words.append(int(value))
    return layout.symbols.intern(key), tuple(words)


def _decode_locals(layout: Layout, kind_sym: int, words: tuple[int, ...]) -> object:
    if kind_sym == 0:
        return ()
    cls = _schema_class(layout.symbols.name(kind_sym))
    values: list[Any] = []
    at = 0
    for _, kind in locals_kinds(cls):
        w = words[at]
        at += 1
        if kind == SYMBOL:
            values.append(layout.symbols.name(w))
        elif kind == BOOL:
            values.append(bool(w))
        elif kind == OPT_INT:
            values.append(None if w == NONE else w)
        elif kind == INTS:
            values.append(tuple(words[at : at + w]))
            at += w
        else:
            values.append(w)
    return cls(*values)


def _at_least(floor: int, values: list[int]) -> int:
    """max() of ``floor`` and ``values`` (spelled out: Cython miscompiles a starred
    generator inside a list display that is a keyword argument)."""
    return max(floor, max(values, default=floor))


def fit_bounds(m: Machine, base: Bounds | None = None) -> Bounds:
    """Bounds just large enough for ``m`` (at least ``base``'s)."""
    b = base or Bounds()
    vpns = [vpn for p in m.processes for vpn, _ in p.ptes]
    vpns += [v.start + v.npages - 1 for p in m.processes for v in p.vmas]
    vpns += [vpn for p in m.processes for vpn in p.pte_tables]
    lo = min(vpns, default=b.vpn_base)
    lo = min(lo, b.vpn_base)
    lo -= lo % HPAGE_NR
    span = _at_least(lo + b.vpns, [v + 1 for v in vpns]) - lo
    span += -span % HPAGE_NR
    words = [len(_encode_locals(Layout(b), f.locals)[1]) for t in m.threads for f in t.stack]
    return replace(
        b,
        processes=max(b.processes, len(m.processes)),
        threads=max(b.threads, len(m.threads)),
        pages=max(b.pages, len(m.pages)),
        vpns=span,
        vpn_base=lo,
        vmas=_at_least(b.vmas, [len(p.vmas) for p in m.processes]),
        frames=_at_least(b.frames, [len(t.stack) for t in m.threads]),
        holds=_at_least(b.holds, [len(f.holds) for t in m.threads for f in t.stack]),
        locals=_at_least(b.locals, words),
        slots=max(b.slots, len(m.swap)),
        refs=max(b.refs, len(m.refs)),
        files=max(b.files, len(m.files)),
        file_pages=_at_least(b.file_pages, [len(f.pages) for f in m.files]),
    )


def flatten(m: Machine, layout: Layout | None = None) -> FlatMachine:
    """The vector holding everything ``m`` holds."""
    f = FlatMachine(layout or Layout(fit_bounds(m)))
    init_machine(f, nodes=m.nodes, numa_balancing=m.numa_balancing, next_token=m.next_token)
    write_pages(f, m.pages)
    write_processes(f, m.processes)
    write_threads(f, m.threads)
    write_slots(f, m.swap)
    write_refs(f, m.refs)
    write_files(f, m.files)
    return f


# --- writing records into the vector -------------------------------------------------------


def write_page(f: FlatMachine, pfn: int, pg: Page | None) -> None:
    """Store ``pg`` at ``pfn`` (None: the pfn is free)."""
    if pg is None:
        page.free_pfn(f, pfn)
        return
    page.init_page(
        f,
        pfn,
        node=pg.node,
        content=pg.content,
        refcount=pg.refcount,
        anon=pg.anon,
        lru=pg.lru,
        hugetlb=pg.huge,
        huge_zero=pg.huge_zero,
    )
    page.page_mapcount_add(f, pfn, pg.mapcount)
    page.folio_pincount_add(f, pfn, pg.pins)
    page.compound_mapcount_add(f, pfn, pg.compound_mapcount)
    if pg.exclusive:
        page.SetPageAnonExclusive(f, pfn)
    page.SetPageIsolated(f, pfn, pg.isolated)
    page.set_page_locked(f, pfn, pg.locked)
    page.set_page_swap_slot(f, pfn, pg.swapcache)
    page.set_page_lru_batch(f, pfn, pg.lru_batch)
    page.set_compound_head(f, pfn, pg.head)


def write_pages(f: FlatMachine, pages: tuple[Page | None, ...]) -> None:
    for pfn in range(f.L.bounds.pages):
        write_page(f, pfn, pages[pfn] if pfn < len(pages) else None)
    if len(pages) > f.L.bounds.pages and any(pg is not None for pg in pages[f.L.bounds.pages :]):
        raise LayoutOverflowError("pages", f.L.bounds.pages, f"{len(pages)} pfns")


def write_process(f: FlatMachine, p: Process) -> None:
    """Store ``p`` as process ``p.pid`` (its whole record: mm, VMAs, page table)."""
    pid = p.pid
    mm.clear_process(f, pid)
    mm.set_mm_name(f, pid, p.name)
    mm.set_mm_parent(f, pid, p.parent)
    mm.set_mm_alive(f, pid, p.alive)
    mm.set_mm_has_pinned(f, pid, p.has_pinned)
    mm.set_write_protect_seq(f, pid, p.write_protect_seq)
    for slot, v in enumerate(p.vmas):
        insert_vma_record(f, pid, slot, v)
    for vpn, pte in p.ptes:
        mm.set_pte_at(f, pid, vpn, pte)
    for vpn in p.pte_tables:
        mm.set_pmd_pte_table(f, pid, vpn, True)


def write_processes(f: FlatMachine, procs: tuple[Process, ...]) -> None:
    for i, p in enumerate(procs):
        if p.pid != i:
            raise ValueError(f"process {p.name} has pid {p.pid} at index {i}")
        write_process(f, p)
    for pid in range(len(procs), nr_processes(f)):
        mm.clear_process(f, pid)
    set_nr_processes(f, len(procs))


def write_thread(f: FlatMachine, ti: int, t: Thread) -> None:
    sym = f.L.symbols.intern
    task.clear_thread(f, ti)
    task.set_task(f, ti, t.name, t.pid, t.node, t.affinity)
    for frame in t.stack:
        kind, words = _encode_locals(f.L, frame.locals)
        task.push_frame(f, ti, sym(frame.stage), kind, words, frame.holds)
    for depth, frame in enumerate(t.stack):
        task.set_frame_result(f, ti, sym(frame.result), depth)


def write_threads(f: FlatMachine, threads: tuple[Thread, ...]) -> None:
    for ti, t in enumerate(threads):
        write_thread(f, ti, t)
    for ti in range(len(threads), nr_threads(f)):
        task.clear_thread(f, ti)
    set_nr_threads(f, len(threads))


def write_slot(f: FlatMachine, slot: int, value: SwapSlot | None) -> None:
    if value is None:
        swap.free_swap_slot(f, slot)
        return
    swap.take_swap_slot(f, slot)
    swap.swap_count_add(f, slot, value.count)
    swap.set_swap_cache_pfn(f, slot, value.cache)
    swap.set_swap_content(f, slot, value.content)


def write_slots(f: FlatMachine, slots: tuple[SwapSlot | None, ...]) -> None:
    for slot in range(f.L.bounds.slots):
        write_slot(f, slot, slots[slot] if slot < len(slots) else None)
    if any(value is not None for value in slots[f.L.bounds.slots :]):
        raise LayoutOverflowError("slots", f.L.bounds.slots, f"{len(slots)} swap slots")


def write_refs(f: FlatMachine, refs: tuple[GupRef, ...]) -> None:
    """The references in order, in the first entries."""
    for i in range(f.L.bounds.refs):
        gup.drop_ref(f, i)
    for r in refs:
        gup.add_ref(
            f,
            name=r.name,
            kind=gup.REF_PIN if r.kind == "pin" else gup.REF_GET,
            holder=r.holder,
            pid=r.pid,
            vpn=r.vpn,
            pfn=r.pfn,
            write=r.write,
            longterm=r.longterm,
            refs=r.refs,
        )


def write_files(f: FlatMachine, files: tuple[File, ...]) -> None:
    set_nr_files(f, 0)
    for file in files:
        add_file(f, file.name, file.pages, file.original, file.fs)


# --- reading records out of the vector -----------------------------------------------------


def unflatten(f: FlatMachine) -> Machine:
    """The records of a vector state, as users and reports see them (every pfn and slot
    of the layout, free ones as None)."""
    return Machine(
        nr_node_ids(f),
        numa_balancing_enabled(f),
        page_views(f),
        process_views(f),
        thread_views(f),
        slot_views(f),
        ref_views(f),
        next_token(f),
        file_views(f),
    )


def page_view(f: FlatMachine, pfn: int) -> Page:
    return Page(
        node=page.page_to_nid(f, pfn),
        content=page.page_content(f, pfn),
        refcount=page.page_count(f, pfn),
        mapcount=page.page_mapcount_raw(f, pfn),
        pins=page.folio_pincount(f, pfn),
        anon=page.PageAnon(f, pfn),
        exclusive=page.PageAnonExclusive(f, pfn),
        swapcache=page.page_swap_slot(f, pfn),
        lru_batch=page.page_lru_batch(f, pfn),
        lru=page.PageLRU(f, pfn),
        isolated=page.PageIsolated(f, pfn),
        locked=page.PageLocked(f, pfn),
        huge=page.PageHuge(f, pfn),
        head=_raw_head(f, pfn),
        compound_mapcount=page.compound_mapcount(f, pfn),
        huge_zero=page.is_huge_zero_page(f, pfn),
    )


def page_views(f: FlatMachine) -> tuple[Page | None, ...]:
    """Every pfn of the layout (None: free), so that any pfn the kernel names indexes."""
    pages: list[Page | None] = [None] * f.L.bounds.pages
    for pfn in page.pfns_in_use(f):
        pages[pfn] = page_view(f, pfn)
    return tuple(pages)


def insert_vma_record(f: FlatMachine, pid: int, slot: int, v: Vma) -> None:
    """Insert the VMA record ``v`` at ``slot`` of ``pid`` (the inverse of ``vma_view``)."""
    mm.insert_vma(
        f,
        pid,
        slot,
        start=v.start,
        npages=v.npages,
        flags=v.flags,
        name=v.name,
        file=v.file,
        pgoff=v.pgoff,
        base=v.base,
    )


def vma_view(f: FlatMachine, pid: int, slot: int) -> Vma:
    """The VMA in ``slot`` of ``pid`` as a record (its properties read as the kernel's
    VMA tests: ``is_cow_mapping``, ``writable``, ``hugetlb``, ...)."""
    start = mm.vma_start(f, pid, slot)
    return Vma(
        mm.vma_name(f, pid, slot),
        start,
        mm.vma_end(f, pid, slot) - start,
        mm.vma_flags(f, pid, slot),
        mm.vma_file(f, pid, slot),
        mm.vma_pgoff(f, pid, slot),
        mm.vma_base_raw(f, pid, slot),
    )


def vmas_of(f: FlatMachine, pid: int) -> tuple[Vma, ...]:
    """Every VMA of ``pid``, in address order."""
    return tuple(vma_view(f, pid, s) for s in range(mm.nr_vmas(f, pid)))


def vma_at(f: FlatMachine, pid: int, vpn: int) -> Vma | None:
    """find_vma() that must contain ``vpn``: the VMA record, or None."""
    slot = mm.vma_lookup(f, pid, vpn)
    return None if slot < 0 else vma_view(f, pid, slot)


def vma_named(f: FlatMachine, pid: int, name: str) -> Vma | None:
    """The first VMA of region ``name`` (a region splits into pieces that keep its name)."""
    for vma in vmas_of(f, pid):
        if vma.name == name:
            return vma
    return None


def region_span(f: FlatMachine, pid: int, name: str) -> tuple[int, int] | None:
    """(first vpn, end vpn) over the pieces of region ``name``, or None (read from the
    VMA slots: every action that names an address resolves it, checker steps too)."""
    span = None
    for slot in range(mm.nr_vmas(f, pid)):
        if mm.vma_name(f, pid, slot) == name:
            end = mm.vma_end(f, pid, slot)
            span = (mm.vma_region_base(f, pid, slot), end) if span is None else (span[0], max(span[1], end))
    return span


def process_view(f: FlatMachine, pid: int) -> Process:
    L = f.L
    vmas = vmas_of(f, pid)
    ptes = tuple((vpn, mm.pte_at(f, pid, vpn)) for vpn in mm.mapped_vpns(f, pid))
    first, end = L.bounds.vpn_base, L.bounds.vpn_base + L.bounds.vpns
    tables = tuple(vpn for vpn in range(first, end, HPAGE_NR) if mm.pmd_has_pte_table(f, pid, vpn))
    return Process(
        pid,
        mm.mm_name(f, pid),
        vmas,
        ptes,
        mm.mm_alive(f, pid),
        mm.mm_has_pinned(f, pid),
        mm.mm_parent(f, pid),
        mm.write_protect_seq(f, pid),
        tables,
    )


def process_views(f: FlatMachine) -> tuple[Process, ...]:
    return tuple(process_view(f, pid) for pid in range(nr_processes(f)))


def frame_view(f: FlatMachine, ti: int, depth: int = -1) -> Frame:
    """The frame at ``depth`` (-1: the innermost) as a record.  Records are immutable
    and symbols mean the same in every layout, so equal frame words decode once."""
    words = (f.L.bounds.holds, task.frame_words(f, ti, depth))
    frame = _FRAMES.get(words)
    if frame is None:
        L = f.L
        name = L.symbols.name
        frame = Frame(
            name(task.frame_stage(f, ti, depth)),
            _decode_locals(
                L,
                task.frame_kind(f, ti, depth),  # type: ignore[arg-type]
                task.frame_locals(f, ti, L.bounds.locals, depth),
            ),
            task.frame_holds(f, ti, depth),
            name(task.frame_result(f, ti, depth)),
        )
        if len(_FRAMES) >= _FRAMES_LIMIT:
            _FRAMES.clear()
        _FRAMES[words] = frame
    return frame


#: frame words -> the decoded record (a few hundred distinct frames in a search)
_FRAMES: dict[tuple[int, bytes], Frame] = {}
_FRAMES_LIMIT = 1 << 16


def write_frame(f: FlatMachine, ti: int, frame: Frame, depth: int = -1) -> None:
    """Store ``frame`` over the frame at ``depth`` (-1: the innermost)."""
    kind, words = _encode_locals(f.L, frame.locals)
    sym = f.L.symbols.intern
    task.set_frame(f, ti, sym(frame.stage), kind, words, frame.holds, depth)
    task.set_frame_result(f, ti, sym(frame.result), depth)


def push_frame_record(f: FlatMachine, ti: int, frame: Frame) -> None:
    """Call: ``frame`` becomes the innermost frame of thread ``ti``."""
    kind, words = _encode_locals(f.L, frame.locals)
    sym = f.L.symbols.intern
    task.push_frame(f, ti, sym(frame.stage), kind, words, frame.holds)
    task.set_frame_result(f, ti, sym(frame.result))


def thread_view(f: FlatMachine, ti: int) -> Thread:
    stack = tuple(frame_view(f, ti, depth) for depth in range(task.task_depth(f, ti)))
    return Thread(
        task.task_name(f, ti), task.task_pid(f, ti), task.task_node(f, ti), task.task_affinity(f, ti), stack
    )


def thread_views(f: FlatMachine) -> tuple[Thread, ...]:
    return tuple(thread_view(f, ti) for ti in range(nr_threads(f)))


def slot_views(f: FlatMachine) -> tuple[SwapSlot | None, ...]:
    slots: list[SwapSlot | None] = [
        SwapSlot(swap.swap_count(f, s), swap.swap_cache_pfn(f, s), swap.swap_content(f, s))
        if swap.swap_in_use(f, s)
        else None
        for s in range(f.L.bounds.slots)
    ]
    return tuple(slots)


def ref_views(f: FlatMachine) -> tuple[GupRef, ...]:
    name = f.L.symbols.name
    refs = []
    for i in range(f.L.bounds.refs):
        if not gup.ref_in_use(f, i):
            continue
        rname, kind, holder, pid, vpn, pfn, write, longterm, n = gup.ref_fields(f, i)
        refs.append(
            GupRef(
                name(rname),
                "pin" if kind == gup.REF_PIN else "get",
                name(holder),
                pid,
                vpn,
                pfn,
                bool(write),
                bool(longterm),
                n,
            )
        )
    return tuple(refs)


def file_views(f: FlatMachine) -> tuple[File, ...]:
    return tuple(
        File(
            file_name(f, i),
            tuple(file_page_pfn(f, i, j) for j in range(file_nr_pages(f, i))),
            tuple(file_original(f, i, j) for j in range(file_nr_pages(f, i))),
            file_fs(f, i),
        )
        for i in range(nr_files(f))
    )


def _raw_head(f: FlatMachine, pfn: int) -> int:
    return NO_HEAD if not page.PageTransCompound(f, pfn) else page.compound_head(f, pfn)


def normalized(m: Machine) -> Machine:
    """``m`` without what the vector does not keep: trailing free pfns and swap slots,
    and the order of the PMD-range list."""
    pages = list(m.pages)
    while len(pages) > 1 and pages[-1] is None:
        pages.pop()
    slots = list(m.swap)
    while slots and slots[-1] is None:
        slots.pop()
    procs = tuple(p._replace(pte_tables=tuple(sorted(p.pte_tables))) for p in m.processes)
    return m._replace(pages=tuple(pages), swap=tuple(slots), processes=procs)


__all__ = ["NO_CPU", "NO_SLOT", "fit_bounds", "flatten", "locals_kinds", "normalized", "unflatten"]
