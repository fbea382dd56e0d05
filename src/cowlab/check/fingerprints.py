"""The visited set of a search: 64-bit (or 128-bit) state fingerprints in one flat
open-addressing table, as SPIN's hash compaction and TLC's FPSet keep them.

Each slot is one (or two) unsigned 64-bit words in an ``array('Q')``: 8 (or 16) bytes
a slot and no Python object per entry, against ~100 bytes a dict entry plus the key
it keeps alive.  The capacity is a power of two; a fingerprint's home slot is its low
bits (fingerprints are uniform hashes, so the low bits are as good as any), collisions
probe linearly, and the table doubles when it is three quarters full.  The value 0
(both words 0 in a 128-bit table) marks an empty slot, so a fingerprint that is 0 is
stored as ``ZERO_STAND_IN``: that merges two of 2**64 values, which the omission
estimate below does not notice.

A distinct state whose fingerprint equals a stored one is taken as visited and never
explored: ``omission_probability`` bounds that risk.  Written in Cython's pure-Python
mode: compiled, ``add`` and ``__contains__`` probe the table in C; interpreted, the
same source runs as is.
"""

from __future__ import annotations

import io
import struct
import zlib
from array import array
from collections.abc import Callable

from cowlab.check.raw_io import fill_from

try:
    import cython
except ModuleNotFoundError:  # interpreted without Cython installed
    from cowlab.check import _cython_shim as cython  # type: ignore[no-redef]

#: True when this module runs as a compiled extension
COMPILED: bool = cython.compiled

MASK64 = (1 << 64) - 1
#: what a fingerprint equal to the empty-slot marker (0) is stored as
ZERO_STAND_IN = 0x9E3779B97F4A7C15
MIN_CAPACITY = 1 << 10

#: to_bytes header: magic, format, bits, capacity (slots), count, CRC-32 of the table
_HEADER = struct.Struct("<8sHHQQI")
_MAGIC = b"COWLABFP"
_FORMAT = 1


class FingerprintError(ValueError):
    """Serialised fingerprints that are truncated, corrupted or of another format."""


@cython.final
@cython.cclass
class FingerprintSet:
    """A set of ``bits``-bit fingerprints (ints in ``[0, 2**bits)``)."""

    _words: cython.Py_ssize_t
    _capacity: cython.Py_ssize_t
    _count: cython.Py_ssize_t
    _limit: cython.Py_ssize_t
    _mask: cython.ulonglong
    _table: array
    _view: cython.ulonglong[:]

    def __init__(self, bits: int = 64, capacity: int = MIN_CAPACITY) -> None:
        if bits not in (64, 128):
            raise ValueError(f"fingerprints are 64 or 128 bits, not {bits}")
        self._words = bits // 64
        size = MIN_CAPACITY
        while size < capacity:
            size *= 2
        self._count = 0
        self._allocate(size)

    @cython.cfunc
    def _allocate(self, capacity: cython.Py_ssize_t) -> cython.void:
        self._table = array("Q", bytes(8 * self._words * capacity))
        self._view = self._table
        self._capacity = capacity
        self._mask = capacity - 1
        self._limit = capacity - capacity // 4

    # --- the set ---------------------------------------------------------------------

    def add(self, fp: int) -> bool:
        """Insert ``fp``; True if it was not there (the state is new)."""
        if self._words == 1:
            return self._add(fp, 0)
        return self._add(fp >> 64, fp & MASK64)

    def __contains__(self, fp: int) -> bool:
        if self._words == 1:
            return self._find(fp, 0) >= 0
        return self._find(fp >> 64, fp & MASK64) >= 0

    @cython.cfunc
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def _find(self, hi: cython.ulonglong, lo: cython.ulonglong) -> cython.Py_ssize_t:
        """The slot holding (hi, lo), or -1 - the empty slot where it would go."""
        if hi == 0 and lo == 0:
            hi = ZERO_STAND_IN
        words: cython.Py_ssize_t = self._words
        i: cython.Py_ssize_t = hi & self._mask
        while True:
            at: cython.ulonglong = self._view[i * words]
            if words == 1:
                if at == hi:
                    return i
                if at == 0:
                    return -1 - i
            else:
                below: cython.ulonglong = self._view[i * 2 + 1]
                if at == hi and below == lo:
                    return i
                if at == 0 and below == 0:
                    return -1 - i
            i = (i + 1) & self._mask

    @cython.cfunc
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def _add(self, hi: cython.ulonglong, lo: cython.ulonglong) -> cython.bint:
        if hi == 0 and lo == 0:
            hi = ZERO_STAND_IN
        found: cython.Py_ssize_t = self._find(hi, lo)
        if found >= 0:
            return False
        self._put(-1 - found, hi, lo)
        self._count += 1
        if self._count > self._limit:
            self._grow()
        return True

    @cython.cfunc
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def _put(self, i: cython.Py_ssize_t, hi: cython.ulonglong, lo: cython.ulonglong) -> cython.void:
        if self._words == 1:
            self._view[i] = hi
        else:
            self._view[i * 2] = hi
            self._view[i * 2 + 1] = lo

    @cython.cfunc
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def _grow(self) -> cython.void:
        old: array = self._table
        old_view: cython.ulonglong[:] = old
        words: cython.Py_ssize_t = self._words
        n: cython.Py_ssize_t = self._capacity
        self._allocate(n * 2)
        j: cython.Py_ssize_t
        for j in range(n):
            hi: cython.ulonglong = old_view[j * words]
            lo: cython.ulonglong = old_view[j * words + 1] if words == 2 else 0
            if hi != 0 or lo != 0:
                self._put(-1 - self._find(hi, lo), hi, lo)

    def __len__(self) -> int:
        return self._count

    @property
    def bits(self) -> int:
        return 64 * self._words

    @property
    def capacity(self) -> int:
        """Slots in the table (a power of two)."""
        return self._capacity

    @property
    def nbytes(self) -> int:
        """Bytes the table occupies."""
        return 8 * self._words * self._capacity

    def __iter__(self):  # type: ignore[no-untyped-def]
        """The stored fingerprints, in table order (a stand-in 0 comes out as stored)."""
        table = self._table
        words = self._words
        for j in range(self._capacity):
            hi = table[j * words]
            lo = table[j * words + 1] if words == 2 else 0
            if hi or lo:
                yield hi if words == 1 else (hi << 64) | lo

    # --- serialisation (checkpoints) --------------------------------------------------

    def to_bytes(self) -> bytes:
        """The table as raw little-endian words behind a header with a CRC-32."""
        table = self._table
        if _BIG_ENDIAN:
            table = array("Q", table)
            table.byteswap()
        raw = table.tobytes()
        header = _HEADER.pack(_MAGIC, _FORMAT, self.bits, self._capacity, self._count, zlib.crc32(raw))
        return header + raw

    def to_chunks(self, size: int = 1 << 20):  # type: ignore[no-untyped-def]
        """``to_bytes`` in pieces of ``size`` bytes, without copying the table (a
        checkpoint streams it to its file: a 50M-state table is 512 MB)."""
        table = self._table
        if _BIG_ENDIAN:
            table = array("Q", table)
            table.byteswap()
        raw = memoryview(table).cast("B")
        yield _HEADER.pack(_MAGIC, _FORMAT, self.bits, self._capacity, self._count, zlib.crc32(raw))
        for at in range(0, len(raw), size):
            yield raw[at : at + size]

    @staticmethod
    def from_reader(read: Callable[[int], bytes], size: int = 1 << 20) -> FingerprintSet:
        """The set that ``to_chunks`` (or ``to_bytes``) wrote, read through ``read(n)``
        straight into the table (no second copy of it in memory)."""
        head = read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise FingerprintError("fingerprint table: truncated header")
        magic, fmt, bits, capacity, count, crc = _HEADER.unpack_from(head)
        if magic != _MAGIC or fmt != _FORMAT or bits not in (64, 128):
            raise FingerprintError("fingerprint table: unknown format")
        if capacity < MIN_CAPACITY or capacity & (capacity - 1) or count > capacity:
            raise FingerprintError("fingerprint table: bad capacity or count")
        table = array("Q", [0]) * ((bits // 64) * capacity)
        running = fill_from(read, table, 0, size)
        if running is None or read(1):
            raise FingerprintError("fingerprint table: truncated")
        if running != crc:
            raise FingerprintError("fingerprint table: checksum mismatch")
        if _BIG_ENDIAN:
            table.byteswap()
        fps = FingerprintSet(bits)
        fps._install(table, capacity, count)
        return fps

    @staticmethod
    def from_bytes(data: bytes | memoryview) -> FingerprintSet:
        """The set that ``to_bytes`` wrote; FingerprintError if ``data`` is not one."""
        return FingerprintSet.from_reader(io.BytesIO(bytes(data)).read)

    def _install(self, table: array, capacity: int, count: int) -> None:
        self._table = table
        self._view = table
        self._capacity = capacity
        self._mask = capacity - 1
        self._limit = capacity - capacity // 4
        self._count = count

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (FingerprintSet.from_bytes, (self.to_bytes(),))


_BIG_ENDIAN = array("H", [1]).tobytes() == b"\x00\x01"


def omission_probability(distinct: int, bits: int = 64) -> float:
    """The chance that at least one of ``distinct`` states was wrongly taken as
    visited, because its fingerprint equalled that of another state stored before it.

    With uniform ``bits``-bit fingerprints the i-th new state matches one of the i - 1
    already stored with probability (i - 1) / 2**bits; summed over the run (the union
    bound of the birthday problem) that is n (n - 1) / 2**(bits + 1).  This is the
    estimate of hash compaction (Wolper and Leroy, "Reliable hashing without collision
    detection", CAV 1993; Stern and Dill, "Improved probabilistic verification by hash
    compaction", CHARME 1995).  See ``tlc_estimate`` for the figure TLC prints.
    """
    n = float(distinct)
    return min(1.0, n * (n - 1) / 2.0 ** (bits + 1))


def tlc_estimate(distinct: int, generated: int, bits: int = 64) -> float:
    """TLC's "calculated (optimistic)" fingerprint collision probability,
    n (m - n) / 2**bits for n distinct and m generated states, as
    ``tlc2.tool.ModelChecker.reportSuccess`` computes it: each of the m - n successors
    found already visited is counted as a possible false match against n stored
    fingerprints.  Reported beside ``omission_probability`` to compare with TLC runs."""
    n = float(distinct)
    return min(1.0, n * max(0.0, float(generated) - n) / 2.0**bits)
