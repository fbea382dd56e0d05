"""Reading a checkpoint's raw arrays straight into place: a table of a billion bytes is
filled from the file chunk by chunk, never held twice."""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Callable


def fill_from(read: Callable[[int], bytes], target: array, crc: int = 0, size: int = 1 << 20) -> int | None:
    """Fill ``target`` from ``read(n)`` in chunks of ``size`` bytes; the running CRC-32
    continued from ``crc``, or None if the data ends first."""
    raw = memoryview(target).cast("B")
    at = 0
    try:
        while at < len(raw):
            chunk = read(min(size, len(raw) - at))
            if not chunk:
                return None
            raw[at : at + len(chunk)] = chunk
            crc = zlib.crc32(chunk, crc)
            at += len(chunk)
    finally:
        raw.release()
    return crc
