"""The record machine's read interface on the vector: what reports, the replay engine
and tests read from a state.

``RecordMachine`` is the vector state the engines boot.  Besides the accessors of
``cowlab.model.state`` it answers ``Machine``'s reads (``m.processes``, ``m.page(pfn)``,
``m.threads``, ``m.process_named(...)``), building the records from the vector and
caching them until the words they come from change.  During the port it also took
``Machine``'s writes, so that the kernel could move to the accessors one module at a
time (docs/design-notes/compact-state.md); every kernel path now writes through the
accessors, and only the reads remain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cowlab.model.layout import (
    H_NFILES,
    H_NPROCESSES,
    H_NTHREADS,
    PAGE_WORDS,
    REF_WORDS,
    SLOT_WORDS,
    Layout,
)
from cowlab.model.machine import Machine
from cowlab.model.page import Page
from cowlab.model.state import convert
from cowlab.model.state.machine import (
    FlatMachine,
    next_token,
    nr_node_ids,
    numa_balancing_enabled,
)
from cowlab.model.state.page import page_in_use
from cowlab.model.swap import File, GupRef, SwapSlot
from cowlab.model.task import Process, Thread

T = TypeVar("T")


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
        return cls(layout, f.vector)

    def copy(self) -> RecordMachine:
        """The private copy a step mutates (without the record views: a copy is written
        at once, which would make most of them stale)."""
        return RecordMachine(self.L, self.vector[:])

    def drop_views(self) -> None:
        """Forget the record views, so that a state waiting in the checker's frontier
        holds only its vector."""
        self._views = {}

    def records(self) -> Machine:
        """The plain record machine (for canonical keys and reports)."""
        return Machine(
            self.nodes,
            self.numa_balancing,
            self.pages,
            self.processes,
            self.threads,
            self.swap,
            self.refs,
            self.next_token,
            self.files,
        )

    # --- reads ------------------------------------------------------------------------

    def _view(self, area: str, lo: int, hi: int, build: Callable[[FlatMachine], T], count: int = -1) -> T:
        """The records of vector words ``lo:hi`` (and of header word ``count``, the
        number of records in use, where the area has one)."""
        key = (self.vector[count] if count >= 0 else 0, self.vector[lo:hi].tobytes())
        hit = self._views.get(area)
        if hit is not None and hit[0] == key:
            return hit[1]  # type: ignore[return-value]  # what build made for this area
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
        return self._view(
            "threads",
            L.threads,
            L.threads + L.bounds.threads * L.thread_words,
            convert.thread_views,
            H_NTHREADS,
        )

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

    # the same lookups as the record machine's, over the same record views
    process_named = Machine.process_named
    ref_named = Machine.ref_named
    file_page = Machine.file_page
    page_cache_owner = Machine.page_cache_owner
