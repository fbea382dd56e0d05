"""Compact trace links: for each stored state, the index of the state it was first
reached from and the number of the transition that reached it, in two typed arrays
(6 bytes a state) instead of a list of parents and a list of Transition objects.

The transition number is the index in ``model.transitions(parent)``, the whole list
even where partial-order reduction expanded a subset, so a counterexample is rebuilt
by walking the links back to the initial state and stepping forward again, choosing
each numbered transition; the step function is deterministic, so that replays the
very states the search saw.
"""

from __future__ import annotations

import io
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator

from cowlab.check.raw_io import fill_from

#: the parent of the initial state
ROOT = -1

_HEADER = struct.Struct("<8sHcc2xQI")
_MAGIC = b"COWLABTL"
_FORMAT = 1
_BIG_ENDIAN = array("H", [1]).tobytes() == b"\x00\x01"


class TraceLinksError(ValueError):
    """Serialised links that are truncated, corrupted or of another format."""


class TraceLinks:
    """Parent index and transition number per state, in the order states were stored."""

    def __init__(self) -> None:
        # 4 and 2 bytes an entry, widened past 2**32 - 1 states or 65,535 transitions
        # from one state; the initial state's parent is stored as the widest value
        self.parents = array("I")
        self.numbers = array("H")
        self._root = _widest(self.parents)

    def add(self, parent: int, number: int) -> int:
        """Store a state reached from ``parent`` (ROOT for an initial state) by transition
        ``number``; its index."""
        if parent < 0:
            parent = self._root
        elif parent >= self._root:
            self._widen_parents()
        self.parents.append(parent)
        try:
            self.numbers.append(number)
        except OverflowError:
            self.numbers = array("I", self.numbers)
            self.numbers.append(number)
        return len(self.parents) - 1

    def _widen_parents(self) -> None:
        wider = array("Q", self.parents)
        root = _widest(wider)
        for i, value in enumerate(wider):
            if value == self._root:
                wider[i] = root
        self.parents, self._root = wider, root

    def __len__(self) -> int:
        return len(self.parents)

    def parent(self, index: int) -> int:
        value = self.parents[index]
        return ROOT if value == self._root else value

    def path(self, index: int) -> list[int]:
        """The transition numbers from the initial state to state ``index``."""
        out: list[int] = []
        while True:
            parent = self.parent(index)
            if parent == ROOT:
                break
            out.append(self.numbers[index])
            index = parent
        out.reverse()
        return out

    @property
    def nbytes(self) -> int:
        return len(self.parents) * self.parents.itemsize + len(self.numbers) * self.numbers.itemsize

    # --- serialisation (checkpoints) --------------------------------------------------

    def to_bytes(self) -> bytes:
        """Both arrays as raw little-endian words behind a header with a CRC-32."""
        parents, numbers = _little(self.parents), _little(self.numbers)
        raw = parents.tobytes() + numbers.tobytes()
        header = _HEADER.pack(
            _MAGIC,
            _FORMAT,
            self.parents.typecode.encode(),
            self.numbers.typecode.encode(),
            len(self.parents),
            zlib.crc32(raw),
        )
        return header + raw

    def to_chunks(self, size: int = 1 << 20) -> Iterator[bytes | memoryview]:
        """``to_bytes`` in pieces, without copying the arrays (a checkpoint streams
        them to its file)."""
        parents, numbers = _little(self.parents), _little(self.numbers)
        raws = [memoryview(parents).cast("B"), memoryview(numbers).cast("B")]
        crc = zlib.crc32(raws[1], zlib.crc32(raws[0]))
        yield _HEADER.pack(
            _MAGIC,
            _FORMAT,
            self.parents.typecode.encode(),
            self.numbers.typecode.encode(),
            len(self.parents),
            crc,
        )
        for raw in raws:
            for at in range(0, len(raw), size):
                yield raw[at : at + size]

    @staticmethod
    def from_reader(read: Callable[[int], bytes], size: int = 1 << 20) -> TraceLinks:
        """The links that ``to_chunks`` (or ``to_bytes``) wrote, read through
        ``read(n)`` straight into the arrays."""
        head = read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise TraceLinksError("trace links: truncated header")
        magic, fmt, ptype, ntype, count, crc = _HEADER.unpack_from(head)
        if magic != _MAGIC or fmt != _FORMAT or ptype not in (b"I", b"Q") or ntype not in (b"H", b"I"):
            raise TraceLinksError("trace links: unknown format")
        parents, numbers = array(ptype.decode(), [0]) * count, array(ntype.decode(), [0]) * count
        running = fill_from(read, parents, 0, size)
        running = None if running is None else fill_from(read, numbers, running, size)
        if running is None or read(1):
            raise TraceLinksError("trace links: truncated")
        if running != crc:
            raise TraceLinksError("trace links: checksum mismatch")
        links = TraceLinks()
        links.parents, links.numbers = _little(parents), _little(numbers)
        links._root = _widest(links.parents)
        return links

    @staticmethod
    def from_bytes(data: bytes | memoryview) -> TraceLinks:
        return TraceLinks.from_reader(io.BytesIO(bytes(data)).read)


def _widest(a: array) -> int:
    return (1 << (8 * a.itemsize)) - 1


def _little(a: array) -> array:
    """``a`` in little-endian byte order (a copy on a big-endian machine)."""
    if not _BIG_ENDIAN:
        return a
    swapped = array(a.typecode, a)
    swapped.byteswap()
    return swapped
