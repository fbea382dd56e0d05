"""The whole machine: one immutable, hashable value."""

from __future__ import annotations

from typing import NamedTuple

from cowlab.model.page import ZERO_PAGE, Page
from cowlab.model.swap import File, GupRef, SwapSlot
from cowlab.model.task import Process, Thread

_new = tuple.__new__


class Machine(NamedTuple):
    """Everything the kernel paths read and write.

    ``pages`` is indexed by pfn (``None``: free); pfn 0 is the zero page.
    ``swap`` is indexed by slot (``None``: free).  ``next_token`` is the content
    token the next store will write: tokens are unique per store, so that a read
    tells which store (by whom) it sees.
    """

    nodes: int
    numa_balancing: bool
    pages: tuple[Page | None, ...] = (ZERO_PAGE,)
    processes: tuple[Process, ...] = ()
    threads: tuple[Thread, ...] = ()
    swap: tuple[SwapSlot | None, ...] = ()
    refs: tuple[GupRef, ...] = ()
    next_token: int = 1
    files: tuple[File, ...] = ()

    # --- lookups -------------------------------------------------------------

    def page(self, pfn: int) -> Page:
        page = self.pages[pfn]
        if page is None:
            raise KeyError(f"pfn {pfn} is free")
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

    # --- functional updates --------------------------------------------------

    # Hot path of the model checker: build the tuple directly (NamedTuple._replace
    # costs about twice as much).  Field order: nodes, numa_balancing, pages,
    # processes, threads, swap, refs, next_token, files.

    def with_page(self, pfn: int, page: Page | None) -> Machine:
        pages = self[2]
        return _new(Machine, (self[0], self[1], (*pages[:pfn], page, *pages[pfn + 1 :]), *self[3:]))

    def with_process(self, proc: Process) -> Machine:
        procs = self[3]
        pid = proc.pid
        return _new(Machine, (*self[:3], (*procs[:pid], proc, *procs[pid + 1 :]), *self[4:]))

    def with_thread(self, index: int, thread: Thread) -> Machine:
        threads = self[4]
        return _new(Machine, (*self[:4], (*threads[:index], thread, *threads[index + 1 :]), *self[5:]))

    def with_slot(self, slot: int, value: SwapSlot | None) -> Machine:
        swap = self[5]
        return _new(Machine, (*self[:5], (*swap[:slot], value, *swap[slot + 1 :]), *self[6:]))

    def alloc_pfn(self) -> int:
        """The lowest free pfn (a new one past the end if none is free)."""
        for pfn, page in enumerate(self.pages):
            if page is None:
                return pfn
        return len(self.pages)

    def with_new_page(self, page: Page) -> tuple[Machine, int]:
        pfn = self.alloc_pfn()
        pages = list(self.pages)
        if pfn == len(pages):
            pages.append(page)
        else:
            pages[pfn] = page
        return self._replace(pages=tuple(pages)), pfn

    def alloc_slot(self) -> int:
        for slot, value in enumerate(self.swap):
            if value is None:
                return slot
        return len(self.swap)

    def with_new_slot(self, value: SwapSlot) -> tuple[Machine, int]:
        slot = self.alloc_slot()
        swap = list(self.swap)
        if slot == len(swap):
            swap.append(value)
        else:
            swap[slot] = value
        return self._replace(swap=tuple(swap)), slot

    def file_page(self, name: str, index: int) -> int:
        for f in self.files:
            if f.name == name:
                return f.pages[index]
        raise KeyError(name)

    def page_cache_owner(self, pfn: int) -> tuple[int, int] | None:
        """(file index, page index) if ``pfn`` is a page-cache page, else None."""
        for i, f in enumerate(self.files):
            if pfn in f.pages:
                return i, f.pages.index(pfn)
        return None

    def take_token(self) -> tuple[Machine, int]:
        return self._replace(next_token=self.next_token + 1), self.next_token
