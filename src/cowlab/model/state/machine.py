"""The compact machine: one vector of 32-bit integers per state, and the machine-wide fields.

A step gets a private copy (``FlatMachine.copy``, one memcpy) and mutates it, so every
accessor in this package writes in place.  Only this package combines record bases
(``cowlab.model.layout.Layout``) with field constants; kernel code names what it wants
(docs/design-notes/compact-state.md).
"""

from __future__ import annotations

from array import array

from cowlab.model.layout import (
    FREE_PAGE,
    FREE_SLOT,
    H_NEXT_TOKEN,
    H_NFILES,
    H_NODES,
    H_NPROCESSES,
    H_NTHREADS,
    H_NUMA_BALANCING,
    P_PARENT,
    PAGE_WORDS,
    SLOT_WORDS,
    Layout,
)

NO_PFN = -1


class FlatMachine:
    """A machine state: ``vector``, its words, and ``L``, its layout.

    ``v`` is what the accessors index: the vector itself when interpreted, a typed view
    of the same buffer when compiled (machine.pxd), so that ``m.v[i]`` is one C load.
    Code outside the accessors that wants the words as a Python object (bytes, slices,
    comparison) uses ``vector``."""

    def __init__(self, layout: Layout, vector: array[int] | None = None) -> None:
        self.L = layout
        if vector is None:
            vector = array("i", bytes(4 * layout.size))
            _init_empty(layout, vector)
        self.vector = vector
        self.v = vector

    def copy(self) -> FlatMachine:
        """The private copy a step mutates."""
        return FlatMachine(self.L, self.vector[:])

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.L, self.vector))

    def tobytes(self) -> bytes:
        return self.vector.tobytes()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FlatMachine) and self.vector == other.vector

    def __hash__(self) -> int:
        return hash(self.vector.tobytes())


def _init_empty(L: Layout, v: array[int]) -> None:
    """Every pfn free, every slot empty, no head, no swap slot, no LRU batch."""
    v[L.pages : L.pages + L.bounds.pages * PAGE_WORDS] = FREE_PAGE * L.bounds.pages
    v[L.swap : L.swap + L.bounds.slots * SLOT_WORDS] = FREE_SLOT * L.bounds.slots
    for pid in range(L.bounds.processes):
        v[L.process(pid) + P_PARENT] = -1


# --- the machine --------------------------------------------------------------------------


def nr_node_ids(m: FlatMachine) -> int:
    return m.v[H_NODES]


def numa_balancing_enabled(m: FlatMachine) -> bool:
    return bool(m.v[H_NUMA_BALANCING])


def take_token(m: FlatMachine) -> int:
    """The content token of the next store (tokens are unique per store)."""
    token = m.v[H_NEXT_TOKEN]
    m.v[H_NEXT_TOKEN] = token + 1
    return token


def nr_processes(m: FlatMachine) -> int:
    return m.v[H_NPROCESSES]


def nr_threads(m: FlatMachine) -> int:
    return m.v[H_NTHREADS]


def nr_files(m: FlatMachine) -> int:
    return m.v[H_NFILES]


def set_nr_processes(m: FlatMachine, n: int) -> None:
    m.v[H_NPROCESSES] = n


def set_nr_threads(m: FlatMachine, n: int) -> None:
    m.v[H_NTHREADS] = n


def set_nr_files(m: FlatMachine, n: int) -> None:
    m.v[H_NFILES] = n


# --- the machine header --------------------------------------------------------------------


def init_machine(m: FlatMachine, *, nodes: int, numa_balancing: bool, next_token: int = 1) -> None:
    m.v[H_NODES] = nodes
    m.v[H_NUMA_BALANCING] = int(numa_balancing)
    m.v[H_NEXT_TOKEN] = next_token


def set_next_token(m: FlatMachine, token: int) -> None:
    m.v[H_NEXT_TOKEN] = token


def next_token(m: FlatMachine) -> int:
    return m.v[H_NEXT_TOKEN]
