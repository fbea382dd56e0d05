"""A state vector as it waits in the frontier: its zero runs and small words packed into
a few hundred bytes, in one C pass each way.

Most words of a vector are zero (free pfns, empty page-table slots, unused frames) and
most of the rest are small.  So a word is written as the LEB128 varint of its zigzag
value (never a 0x00 first byte, since the word is not zero), and a run of zero words as
0x00 followed by the varint of its length.  zlib at its fastest level packed tighter
(about 190 bytes for a 2 kB gaudi-large vector, against about 300 here) but took 6 us
of the 10 that a state's packing and unpacking cost (benchmarks/bench_check_phases.py);
in memory the frontier keeps at most 65,536 entries (``cowlab.check.frontier``), and on
disk the size matters less than the time.

Written in Cython's pure-Python mode: compiled, both directions are C loops over the
vector's buffer; interpreted, the same code gives the same bytes (a checkpoint written
by one mode resumes in the other).
"""

from __future__ import annotations

from array import array

try:
    import cython
except ModuleNotFoundError:  # interpreted without Cython installed
    from cowlab.check import _cython_shim as cython  # type: ignore[no-redef]

#: the byte that starts a run of zero words
ZERO_RUN = 0x00
#: worst case per word: a 32-bit word's zigzag varint is at most 5 bytes, and a zero run
#: of one word costs 2
_MAX_BYTES_PER_WORD = 5


class VectorPackError(ValueError):
    """Packed bytes that are not a vector of the expected length."""


@cython.boundscheck(False)
@cython.wraparound(False)
def pack_vector(words: cython.int[::1]) -> bytes:
    """The packed bytes of a vector of 32-bit words."""
    n: cython.Py_ssize_t = len(words)
    out = bytearray(n * _MAX_BYTES_PER_WORD + 8)
    view: cython.uchar[::1] = out
    pos: cython.Py_ssize_t = 0
    i: cython.Py_ssize_t = 0
    run: cython.ulonglong
    value: cython.ulonglong
    w: cython.longlong
    while i < n:
        w = words[i]
        if w == 0:
            run = 0
            while i < n and words[i] == 0:
                run += 1
                i += 1
            view[pos] = ZERO_RUN
            pos += 1
            value = run
        else:
            value = (w << 1) if w >= 0 else ((-w << 1) - 1)
            i += 1
        while value >= 0x80:
            view[pos] = (value & 0x7F) | 0x80
            pos += 1
            value >>= 7
        view[pos] = value
        pos += 1
    return bytes(out[:pos])


@cython.boundscheck(False)
@cython.wraparound(False)
def unpack_vector(data: bytes, n: cython.Py_ssize_t) -> array:
    """The ``n`` words ``pack_vector`` packed into ``data``."""
    out = array("i", bytes(4 * n))
    words: cython.int[::1] = out
    src: cython.const[cython.uchar][::1] = data
    size: cython.Py_ssize_t = len(data)
    pos: cython.Py_ssize_t = 0
    i: cython.Py_ssize_t = 0
    zero_run: cython.bint
    value: cython.ulonglong
    half: cython.longlong
    shift: cython.int
    b: cython.uint
    while pos < size:
        zero_run = src[pos] == ZERO_RUN
        if zero_run:
            pos += 1
        value = 0
        shift = 0
        while True:
            if pos >= size or shift > 35:
                raise VectorPackError("packed vector ends inside a word")
            b = src[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if zero_run:
            if value > n - i:
                raise VectorPackError(f"packed vector is longer than {n} words")
            i += value  # the words are zero already
        else:
            if i >= n or value >> 32:
                raise VectorPackError(f"packed vector is longer than {n} words")
            half = value >> 1
            words[i] = -half - 1 if value & 1 else half
            i += 1
    if i != n:
        raise VectorPackError(f"packed vector has {i} words, not {n}")
    return out
