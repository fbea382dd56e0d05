"""The breadth-first frontier, held in bounded memory: the middle of the queue waits on
disk.

A BFS frontier is most of what a search keeps: at a level barrier it can hold a third
of all states, while the visited set needs 17 bytes a state and the trace links 6.  So
the queue keeps its two ends in memory (the states about to be expanded and the ones
just found) and writes the middle to an anonymous temporary file in chunks, in order;
a chunk comes back when the head runs dry.  Memory then stays near ``in_memory``
entries whatever the frontier's size, as SPIN's and TLC's disk-based queues do.
"""

from __future__ import annotations

import pickle
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO, Any

#: entries kept in memory before the middle of the queue goes to disk.  An entry costs
#: more than its packed vector (about 230 bytes for gaudi-large): the tuples, the index
#: and the allocator's slack.  At 65,536 the in-memory frontier was most of a
#: million-state run's memory (153 bytes a state); at 16,384 the run takes 65
#: (benchmarks/bench_check.py large --max-states 1000000 --no-workers)
IN_MEMORY = 1 << 14
#: entries per chunk written to disk
CHUNK = 1 << 13


class Frontier:
    """A FIFO queue (``append``, ``popleft``; ``appendleft`` to put back the entry
    being expanded) that spills its middle to disk."""

    def __init__(self, items: Iterable[Any] = (), in_memory: int = IN_MEMORY, chunk: int = CHUNK) -> None:
        self.in_memory = max(in_memory, 2 * chunk)
        self.chunk = chunk
        self._head: deque[Any] = deque()
        self._tail: list[Any] = []
        #: (offset, size, entries) of each chunk on disk, oldest first
        self._chunks: deque[tuple[int, int, int]] = deque()
        self._on_disk = 0
        self._file: IO[bytes] | None = None
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        return len(self._head) + self._on_disk + len(self._tail)

    def __bool__(self) -> bool:
        return len(self) > 0

    def append(self, item: Any) -> None:
        self._tail.append(item)
        if len(self._tail) >= self.chunk and len(self._head) + len(self._tail) > self.in_memory:
            self._spill()

    def appendleft(self, item: Any) -> None:
        self._head.appendleft(item)

    def popleft(self) -> Any:
        if not self._head:
            if self._chunks:
                self._head.extend(self._load(self._chunks.popleft()))
            else:
                self._head.extend(self._tail)
                self._tail = []
        return self._head.popleft()

    def __iter__(self) -> Iterator[Any]:
        """Every entry in queue order (the disk chunks read back, not removed)."""
        yield from self._head
        for chunk in self._chunks:
            yield from self._read(chunk)
        yield from self._tail

    @property
    def spilled(self) -> int:
        """Entries waiting on disk now."""
        return self._on_disk

    def to_disk(self) -> None:
        """Write the entries held in memory to disk as well: a frontier that is only read
        from now on (``__iter__``) then holds one chunk in memory at a time."""
        if self._head:
            self._chunks.appendleft(self._write(list(self._head)))
            self._head.clear()
        if self._tail:
            self._spill()

    def _spill(self) -> None:
        self._chunks.append(self._write(self._tail))
        self._tail = []

    def _write(self, items: list[Any]) -> tuple[int, int, int]:
        """Append ``items`` to the file as one chunk: (offset, size, entries)."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="cowlab-frontier-")  # noqa: SIM115
        data = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.seek(0, 2)
        offset = self._file.tell()
        self._file.write(data)
        self._on_disk += len(items)
        return offset, len(data), len(items)

    def _read(self, chunk: tuple[int, int, int]) -> list[Any]:
        assert self._file is not None
        offset, size, _ = chunk
        self._file.seek(offset)
        return pickle.loads(self._file.read(size))  # our own file, written above

    def _load(self, chunk: tuple[int, int, int]) -> list[Any]:
        items = self._read(chunk)
        self._on_disk -= chunk[2]
        if not self._chunks and self._file is not None:  # the file is drained: start over
            self._file.close()
            self._file = None
        return items

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (in a checkpoint) as its entries in order."""
        return (Frontier, (list(self), self.in_memory, self.chunk))
