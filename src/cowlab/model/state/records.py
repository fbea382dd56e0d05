"""The record machine's interface on the vector, for the port.

The kernel paths are written against ``cowlab.model.Machine``: they read records
(``m.processes[pid].pte(vpn)``, ``m.page(pfn).refcount``) and rebind the machine on
every write (``m = m.with_page(pfn, page)``).  ``RecordMachine`` answers the same
calls on a vector: reads build records (cached until the vector area they come from
changes), writes store into the vector and return the same machine.  Because every
write rebinds ``m``, writing in place is equivalent as long as the engine hands each
step a private copy, which it does.  So the whole kernel runs unchanged on the
vector, and each module can then move to the accessors of ``cowlab.model.state`` on
its own (docs/design-notes/compact-state.md).  When the last module has moved, this
class goes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cowlab.model.layout import (
    H_NFILES,
    H_NPROCESSES,
    H_NTHREADS,
    PAGE_WORDS,
    REF_WORDS,
    SLOT_WORDS,
    Layout,
    LayoutOverflowError,
)
from cowlab.model.machine import Machine
from cowlab.model.page import Page
from cowlab.model.state import convert
from cowlab.model.state.machine import (
    FlatMachine,
    init_machine,
    next_token,
    nr_node_ids,
    nr_processes,
    numa_balancing_enabled,
    set_next_token,
    set_nr_processes,
    set_nr_threads,
    take_token,
)
from cowlab.model.state.page import alloc_pfn, page_in_use
from cowlab.model.state.swap import swap_in_use
from cowlab.model.swap import File, GupRef, SwapSlot
from cowlab.model.task import Process, Thread


class RecordMachine(FlatMachine):
    """A vector state that also speaks ``Machine``'s record interface."""

    __slots__ = ("_views",)

    def __init__(self, layout: Layout, vector: Any = None) -> None:
        super().__init__(layout, vector)
        #: area -> (the area's bytes when the view was built, the view)
        self._views: dict[str, tuple[tuple[int, bytes], object]] = {}

    @classmethod
    def from_records(cls, m: Machine, layout: Layout) -> RecordMachine:
        f = convert.flatten(m, layout)
        return cls(layout, f.v)

    def copy(self) -> RecordMachine:
        """The private copy a step mutates (without the record views: a copy is written
        at once, which would make most of them stale)."""
        return RecordMachine(self.L, self.v[:])

    def drop_views(self) -> None:
        """Forget the record views, so that a state waiting in the checker's frontier
        holds only its vector."""
        self._views = {}

    def records(self) -> Machine:
        """The plain record machine (for canonical keys and reports)."""
        return Machine(self.nodes, self.numa_balancing, self.pages, self.processes, self.threads,
                       self.swap, self.refs, self.next_token, self.files)

    # --- reads ------------------------------------------------------------------------

    def _view(self, area: str, lo: int, hi: int, build: Callable[[FlatMachine], Any],
              count: int = -1) -> Any:
        """The records of vector words ``lo:hi`` (and of header word ``count``, the
        number of records in use, where the area has one)."""
        key = (self.v[count] if count >= 0 else 0, self.v[lo:hi].tobytes())
        hit = self._views.get(area)
        if hit is not None and hit[0] == key:
            return hit[1]
        view = build(self)
        self._views[area] = (key, view)
        return view

    @property
    def nodes(self) -> int:
        return nr_node_ids(self)

    @property
    def numa_balancing(self) -> bool:
        return numa_balancing_enabled(self)

    @property
    def next_token(self) -> int:
        return next_token(self)

    @property
    def pages(self) -> tuple[Page | None, ...]:
        L = self.L
        return self._view("pages", L.pages, L.pages + L.bounds.pages * PAGE_WORDS, convert.page_views)

    @property
    def processes(self) -> tuple[Process, ...]:
        L = self.L
        end = L.processes + L.bounds.processes * L.proc_words
        return self._view("processes", L.processes, end, convert.process_views, H_NPROCESSES)

    @property
    def threads(self) -> tuple[Thread, ...]:
        L = self.L
        return self._view("threads", L.threads, L.threads + L.bounds.threads * L.thread_words,
                          convert.thread_views, H_NTHREADS)

    @property
    def swap(self) -> tuple[SwapSlot | None, ...]:
        L = self.L
        return self._view("swap", L.swap, L.swap + L.bounds.slots * SLOT_WORDS, convert.slot_views)

    @property
    def refs(self) -> tuple[GupRef, ...]:
        L = self.L
        return self._view("refs", L.refs, L.refs + L.bounds.refs * REF_WORDS, convert.ref_views)

    @property
    def files(self) -> tuple[File, ...]:
        L = self.L
        return self._view("files", L.files, L.size, convert.file_views, H_NFILES)

    def page(self, pfn: int) -> Page:
        if not 0 <= pfn < self.L.bounds.pages or not page_in_use(self, pfn):
            raise KeyError(f"pfn {pfn} is free")
        pages = self.pages
        page = pages[pfn]
        assert page is not None
        return page

    def process_named(self, name: str) -> Process:
        for p in self.processes:
            if p.name == name:
                return p
        raise KeyError(name)

    def ref_named(self, name: str) -> GupRef | None:
        for r in self.refs:
            if r.name == name:
                return r
        return None

    def file_page(self, name: str, index: int) -> int:
        for f in self.files:
            if f.name == name:
                return f.pages[index]
        raise KeyError(name)

    def page_cache_owner(self, pfn: int) -> tuple[int, int] | None:
        for i, f in enumerate(self.files):
            if pfn in f.pages:
                return i, f.pages.index(pfn)
        return None

    def alloc_pfn(self) -> int:
        return alloc_pfn(self)

    def alloc_slot(self) -> int:
        for slot in range(self.L.bounds.slots):
            if not swap_in_use(self, slot):
                return slot
        raise LayoutOverflowError("slots", self.L.bounds.slots, "no free swap slot")

    # --- writes: in place, returning the machine --------------------------------------

    def with_page(self, pfn: int, page: Page | None) -> RecordMachine:
        convert.write_page(self, pfn, page)
        return self

    def with_process(self, proc: Process) -> RecordMachine:
        convert.write_process(self, proc)
        if proc.pid >= nr_processes(self):
            set_nr_processes(self, proc.pid + 1)
        return self

    def with_thread(self, index: int, thread: Thread) -> RecordMachine:
        convert.write_thread(self, index, thread)
        return self

    def with_slot(self, slot: int, value: SwapSlot | None) -> RecordMachine:
        convert.write_slot(self, slot, value)
        return self

    def with_new_page(self, page: Page) -> tuple[RecordMachine, int]:
        pfn = alloc_pfn(self)
        convert.write_page(self, pfn, page)
        return self, pfn

    def with_new_slot(self, value: SwapSlot) -> tuple[RecordMachine, int]:
        slot = self.alloc_slot()
        convert.write_slot(self, slot, value)
        return self, slot

    def take_token(self) -> tuple[RecordMachine, int]:
        return self, take_token(self)

    def _replace(self, **fields: Any) -> RecordMachine:
        for name, value in fields.items():
            if name == "pages":
                convert.write_pages(self, value)
            elif name == "processes":
                convert.write_processes(self, value)
            elif name == "threads":
                convert.write_threads(self, value)
                set_nr_threads(self, len(value))
            elif name == "swap":
                convert.write_slots(self, value)
            elif name == "refs":
                convert.write_refs(self, value)
            elif name == "files":
                convert.write_files(self, value)
            elif name == "next_token":
                set_next_token(self, value)
            elif name in ("nodes", "numa_balancing"):
                init_machine(self, nodes=value if name == "nodes" else self.nodes,
                             numa_balancing=value if name == "numa_balancing" else self.numa_balancing,
                             next_token=self.next_token)
            else:
                raise TypeError(f"Machine has no field {name!r}")
        return self
