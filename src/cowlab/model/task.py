"""Processes (an mm with its page table) and threads (with a continuation stack)."""

from __future__ import annotations

from typing import Any, NamedTuple

from cowlab.model.pte import pte_t
from cowlab.model.vma import Vma

NO_NODE = -1
KSWAPD = "kswapd"


class Frame(NamedTuple):
    """One frame of a kernel operation in progress (a continuation).

    ``stage`` is a stable name such as ``migrate.unmapped``: the point the
    operation has reached, and what it does on its next step.  ``locals`` is an
    operation-specific record; a field of it holding a pfn is named ``pfn``, one holding
    a ``pte_t`` is named ``pte`` or ``*_pte`` (the canonical form renames pfns by these
    names: ``cowlab.check.canon``).  ``holds`` lists pfns on which this frame holds a
    page reference, so that every unit of refcount has a visible owner.
    """

    stage: str
    locals: tuple[Any, ...] = ()
    holds: tuple[int, ...] = ()
    #: what the last callee returned to this frame
    result: str = ""


class Thread(NamedTuple):
    """A task: a thread of a process, or the kernel's reclaim thread (``pid == -1``)."""

    name: str
    pid: int
    node: int
    #: the node the task is bound to by sched_setaffinity, or NO_NODE
    affinity: int = NO_NODE
    #: operation in progress, innermost frame last; empty when idle
    stack: tuple[Frame, ...] = ()

    @property
    def busy(self) -> bool:
        return bool(self.stack)

    @property
    def cpu(self) -> int:
        """One CPU per node: the per-CPU LRU batch of a task is its node's."""
        return self.node


class Process(NamedTuple):
    """A process and its mm: VMAs and one page table (vpn -> pte_t, sorted by vpn; an
    absent vpn is pte_none, and no entry is ever 0)."""

    pid: int
    name: str
    vmas: tuple[Vma, ...] = ()
    ptes: tuple[tuple[int, pte_t], ...] = ()
    alive: bool = True
    #: mm->has_pinned (008cfe4418b3, v5.9): set on the first FOLL_PIN
    has_pinned: bool = False
    parent: int = -1
    #: mm->write_protect_seq (57efa1fe5957, v5.11): odd while fork copies page tables
    write_protect_seq: int = 0
    #: first vpns of the PMD-sized ranges of THP-enabled VMAs that hold a page table of
    #: PTEs (after a PMD split): such a range is not pmd_none, so no new THP goes there
    pte_tables: tuple[int, ...] = ()

    def vma_at(self, vpn: int) -> Vma | None:
        for vma in self.vmas:
            if vma.start <= vpn < vma.start + vma.npages:
                return vma
        return None

    def vma_named(self, name: str) -> Vma | None:
        """The first VMA of a region (a region splits into pieces that keep its name)."""
        for vma in self.vmas:
            if vma.name == name:
                return vma
        return None

    def region_span(self, name: str) -> tuple[int, int] | None:
        """(first vpn, end vpn) over the pieces of region ``name``, or None."""
        pieces = [v for v in self.vmas if v.name == name]
        if not pieces:
            return None
        return pieces[0].region_base, max(v.start + v.npages for v in pieces)

    def pte(self, vpn: int) -> pte_t:
        """The PTE at ``vpn`` (0, pte_none, if there is none)."""
        for key, pte in self.ptes:
            if key == vpn:
                return pte
        return 0
