"""Stable fingerprints of canonical state keys, the same in every process and every run.

Python's ``hash()`` will not do: it is salted per process for ``str`` (and in 3.11
``hash(None)`` is an address), so a checkpoint written by one process would not match
the fingerprints of the next.  A key is encoded into bytes, then hashed with XXH3 (the
``xxhash`` library; 64 or 128 bits), whose output passes SMHasher's distribution tests,
so that the collision estimate of ``fingerprints.omission_probability`` holds.  XXH3
hashes a 2 kB state vector in about 0.1 us, where BLAKE2b took 2.3 us, most of what a
state may cost at the checker's target speed (BENCHMARKS.md).  ``FINGERPRINT`` names
the function, and a checkpoint records it: fingerprints made by another function would
not match.

The encoding follows ``==``, since the visited set used to be a dict keyed by the keys
and must merge exactly the same states: equal keys (a NamedTuple and the plain tuple
with the same items, ``True`` and ``1``, ``1.0`` and ``1``, equal frozensets built in
different orders) encode to the same bytes, and unequal keys to different bytes (the
encoding is prefix-free):

    0x00-0x7f          the int 0-127 (bools too)
    0x80               None
    0x81 varint        any other 64-bit int (LEB128 of its zigzag value)
    0x82 n, n bytes    a larger int, two's complement, little-endian
    0x83 n, n bytes    a str, UTF-8
    0x84 n, n items    a tuple (or NamedTuple)
    0x85 n, n items    a frozenset or set, its items' encodings sorted as bytes
    0x86 8 bytes       a float that is not an integer (an integral one is its int)
    0x87 n, n bytes    a bytes object (a compact state vector)

Written in Cython's pure-Python mode.  Compiled, ``_Writer`` walks the key in C into one
reused buffer.  Interpreted, per-node Python overhead would cost ~50 µs a key, so
``_encode_interpreted`` builds the same bytes from sub-encodings remembered by value
(most records of a successor state are equal to records of states just seen); a test
checks that both give the same bytes.
"""

from __future__ import annotations

import struct

import xxhash

try:
    import cython
except ModuleNotFoundError:  # interpreted without Cython installed
    from cowlab.check import _cython_shim as cython  # type: ignore[no-redef]

#: True when this module runs as a compiled extension
COMPILED: bool = cython.compiled

_NONE = 0x80
_INT = 0x81
_BIGINT = 0x82
_STR = 0x83
_TUPLE = 0x84
_SET = 0x85
_FLOAT = 0x86
_BYTES = 0x87

#: a bytes item at least this long is hashed in place rather than copied into the buffer
_BIG = cython.declare(cython.Py_ssize_t, 256)
_INT64_MIN = -(1 << 63)
_INT64_END = 1 << 63
_BYTE = [bytes([i]) for i in range(256)]
#: str -> its whole encoding; states use few distinct strings (names, stages)
_STR_CACHE: dict[str, bytes] = cython.declare(dict, {})
_STR_CACHE_LIMIT = 1 << 12


def _varint_bytes(value: int) -> bytes:
    """LEB128: seven bits a byte, low first, the high bit set on all but the last."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(value: int) -> int:
    """Signed to unsigned, small magnitudes first: 0, -1, 1, -2 -> 0, 1, 2, 3."""
    return value * 2 if value >= 0 else -value * 2 - 1


def _int_bytes(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _BYTE[value]
    if _INT64_MIN <= value < _INT64_END:
        return _BYTE[_INT] + _varint_bytes(_zigzag(value))
    n = (value.bit_length() + 8) // 8
    return _BYTE[_BIGINT] + _varint_bytes(n) + value.to_bytes(n, "little", signed=True)


@cython.ccall
def _str_bytes(value: str) -> bytes:
    cached = _STR_CACHE.get(value)
    if cached is None:
        data = value.encode("utf-8", "surrogatepass")
        cached = _BYTE[_STR] + _varint_bytes(len(data)) + data
        if len(_STR_CACHE) < _STR_CACHE_LIMIT:
            _STR_CACHE[value] = cached
    return cached


def _bytes_bytes(value: bytes) -> bytes:
    return _BYTE[_BYTES] + _varint_bytes(len(value)) + value


def _float_bytes(value: float) -> bytes:
    if value.is_integer():
        return _int_bytes(int(value))
    return _BYTE[_FLOAT] + struct.pack("<d", value)


#: frozenset -> its encoding (frozensets cache their hash, so a lookup is cheap)
_SET_CACHE: dict[frozenset, bytes] = cython.declare(dict, {})
_SET_CACHE_LIMIT = 1 << 14


def _set_bytes(value: frozenset | set) -> bytes:
    cached = _SET_CACHE.get(value) if type(value) is frozenset else None
    if cached is None:
        items = sorted([_encode_interpreted(item) for item in value])
        cached = _BYTE[_SET] + _varint_bytes(len(items)) + b"".join(items)
        if type(value) is frozenset:
            if len(_SET_CACHE) >= _SET_CACHE_LIMIT:
                _SET_CACHE.clear()
            _SET_CACHE[value] = cached
    return cached


def _unsupported(obj: object) -> TypeError:
    return TypeError(f"cannot fingerprint a {type(obj).__name__} in a state key")


# --- compiled path: one walk into a reused buffer ------------------------------------


#: longest encoding of one scalar written without its own reserve(): a tag and a varint
_SCALAR = cython.declare(cython.Py_ssize_t, 11)


@cython.final
@cython.cclass
class _Writer:
    """Encodes into one reused buffer.  Every ``value`` call finds at least ``_SCALAR``
    bytes reserved for it; a tuple reserves for all its items at once.  (Remembering
    the encodings of shared sub-tuples by identity was measured: it costs more than it
    saves.)"""

    buf: bytearray
    view: cython.uchar[:]
    pos: cython.Py_ssize_t
    size: cython.Py_ssize_t
    #: the large bytes item of the key being encoded (None: none), and where it goes
    big: object
    big_at: cython.Py_ssize_t

    def __init__(self) -> None:
        self.big = None
        self.big_at = 0
        self.buf = bytearray(1 << 16)
        self.view = self.buf
        self.pos = 0
        self.size = len(self.buf)

    @cython.cfunc
    @cython.exceptval(-1)
    def reserve(self, n: cython.Py_ssize_t) -> cython.int:
        if self.pos + n <= self.size:
            return 0
        size: cython.Py_ssize_t = self.size * 2
        while size < self.pos + n:
            size *= 2
        grown = bytearray(size)
        grown[: self.pos] = self.buf[: self.pos]
        self.buf = grown
        self.view = grown
        self.size = size
        return 0

    @cython.cfunc
    @cython.inline
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def byte(self, b: cython.uint) -> cython.void:
        self.view[self.pos] = b
        self.pos += 1

    @cython.cfunc
    @cython.inline
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def varint(self, value: cython.ulonglong) -> cython.void:
        while value >= 0x80:
            self.view[self.pos] = (value & 0x7F) | 0x80
            self.pos += 1
            value >>= 7
        self.view[self.pos] = value
        self.pos += 1

    @cython.cfunc
    @cython.exceptval(-1)
    @cython.boundscheck(False)
    @cython.wraparound(False)
    def raw(self, data: bytes) -> cython.int:
        n: cython.Py_ssize_t = len(data)
        self.reserve(n + _SCALAR)
        # one memcpy (a same-size slice of the bytearray): a byte loop took 2 us for a
        # 2 kB state vector
        self.buf[self.pos : self.pos + n] = data
        self.pos += n
        return 0

    @cython.cfunc
    @cython.exceptval(-1)
    def value(self, obj: object) -> cython.int:
        kind = type(obj)
        v: cython.longlong
        if kind is int or kind is bool:
            if cython.compiled:
                try:
                    v = obj  # type: ignore[assignment]
                except OverflowError:
                    return self.raw(_int_bytes(obj))  # type: ignore[arg-type]
            else:
                if not _INT64_MIN <= obj < _INT64_END:  # type: ignore[operator]
                    return self.raw(_int_bytes(obj))  # type: ignore[arg-type]
                v = obj  # type: ignore[assignment]
            if 0 <= v < 0x80:
                self.byte(v)
                return 0
            self.byte(0x81)  # _INT
            # zigzag, in unsigned arithmetic so that nothing overflows (-2**63 included)
            if v >= 0:
                self.varint(cython.cast(cython.ulonglong, v) * 2)
            else:
                self.varint(cython.cast(cython.ulonglong, -(v + 1)) * 2 + 1)
            return 0
        if isinstance(obj, tuple):
            return self.tuple_(obj)
        if kind is str:
            return self.raw(_str_bytes(obj))  # type: ignore[arg-type]
        if kind is bytes:
            return self.bytes_(obj)
        if obj is None:
            self.byte(0x80)  # _NONE
            return 0
        if kind is frozenset or kind is set:
            return self.raw(_set_bytes(obj))  # type: ignore[arg-type]
        if kind is float:
            return self.raw(_float_bytes(obj))  # type: ignore[arg-type]
        if isinstance(obj, int):  # an int subclass (an IntEnum): its value
            return self.value(int(obj))  # type: ignore[call-overload]
        raise _unsupported(obj)

    @cython.cfunc
    @cython.exceptval(-1)
    def tuple_(self, obj: object) -> cython.int:
        t: tuple = cython.cast(tuple, obj)  # a NamedTuple too: same layout
        n: cython.Py_ssize_t = len(t)
        i: cython.Py_ssize_t
        self.reserve(_SCALAR * (n + 2))
        self.byte(0x84)  # _TUPLE
        self.varint(n)
        for i in range(n):
            self.value(t[i])
        return 0

    @cython.cfunc
    @cython.exceptval(-1)
    def bytes_(self, obj: object) -> cython.int:
        """A bytes object: its head here; a large one (a state vector) is not copied
        but remembered as the one ``big`` item that ``digest`` streams in place."""
        data: bytes = cython.cast(bytes, obj)
        n: cython.Py_ssize_t = len(data)
        self.reserve(_SCALAR + 10)
        self.byte(0x87)  # _BYTES
        self.varint(n)
        if n < _BIG or self.big is not None:
            return self.raw(data)
        self.big = data
        self.big_at = self.pos
        return 0

    def _fill(self, obj: object) -> None:
        self.pos = 0
        self.big = None
        self.reserve(_SCALAR)
        self.value(obj)

    def encode(self, obj: object) -> bytes:
        self._fill(obj)
        if self.big is None:
            return bytes(self.buf[: self.pos])
        return b"".join((self.buf[: self.big_at], self.big, self.buf[self.big_at : self.pos]))

    def digest(self, obj: object, bits: cython.int) -> object:
        """XXH3 of ``encode(obj)``, streamed over the buffer and the large bytes item
        (the same digest as hashing the concatenation, without building it)."""
        self._fill(obj)
        whole = memoryview(self.buf)
        if self.big is None:
            part = whole[: self.pos]
            return xxhash.xxh3_64_intdigest(part) if bits == 64 else xxhash.xxh3_128_intdigest(part)
        h = xxhash.xxh3_64() if bits == 64 else xxhash.xxh3_128()
        h.update(whole[: self.big_at])
        h.update(self.big)
        h.update(whole[self.big_at : self.pos])
        return h.intdigest()


_WRITER = _Writer()


# --- interpreted path: the same bytes, from sub-encodings remembered by value --------

#: tuple -> its encoding.  Sound because the encoding follows ``==``: an equal tuple
#: found here has the very same encoding.
_MEMO: dict[tuple, bytes] = {}
_MEMO_LIMIT = 1 << 17
#: larger encodings (whole keys, state vectors) rarely repeat: remembering them would
#: only fill memory
_MEMO_ITEM_LIMIT = 512
_TUPLE_HEAD = [_BYTE[_TUPLE] + _varint_bytes(n) for n in range(256)]


def _encode_interpreted(obj: object) -> bytes:
    kind = type(obj)
    if kind is int or kind is bool:
        return _BYTE[obj] if 0 <= obj < 0x80 else _int_bytes(obj)  # type: ignore[operator,index,arg-type]
    if isinstance(obj, tuple):
        try:
            cached = _MEMO.get(obj)
        except TypeError:  # an unhashable item (a set): encode without the memo
            cached = b""
        if cached:
            return cached
        n = len(obj)
        head = _TUPLE_HEAD[n] if n < 256 else _BYTE[_TUPLE] + _varint_bytes(n)
        data = head + b"".join([_encode_interpreted(item) for item in obj])
        if cached is None and len(data) <= _MEMO_ITEM_LIMIT:
            if len(_MEMO) >= _MEMO_LIMIT:
                _MEMO.clear()
            _MEMO[obj] = data
        return data
    if kind is str:
        return _str_bytes(obj)  # type: ignore[arg-type]
    if kind is bytes:
        return _bytes_bytes(obj)  # type: ignore[arg-type]
    if obj is None:
        return _BYTE[_NONE]
    if kind is frozenset or kind is set:
        return _set_bytes(obj)  # type: ignore[arg-type]
    if kind is float:
        return _float_bytes(obj)  # type: ignore[arg-type]
    if isinstance(obj, int):
        return _encode_interpreted(int(obj))  # type: ignore[call-overload]
    raise _unsupported(obj)


# --- the interface ---------------------------------------------------------------------


def encode(obj: object) -> bytes:
    """The bytes a key is fingerprinted from (see the module docstring)."""
    if cython.compiled:
        return _WRITER.encode(obj)
    return _encode_interpreted(obj)


#: the hash behind the fingerprints (checkpoints record it)
FINGERPRINT = "xxh3"


def fingerprint64(key: object) -> int:
    """A 64-bit fingerprint of ``key``, stable across processes and runs."""
    if cython.compiled:
        return _WRITER.digest(key, 64)  # type: ignore[no-any-return]
    return xxhash.xxh3_64_intdigest(encode(key))


def fingerprint128(key: object) -> int:
    """A 128-bit fingerprint of ``key`` (for state spaces where 64 bits are too few)."""
    if cython.compiled:
        return _WRITER.digest(key, 128)  # type: ignore[no-any-return]
    return xxhash.xxh3_128_intdigest(encode(key))
