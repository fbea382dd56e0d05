"""Checkpoints: the search memory written atomically (write, fsync, rename), so a crash
or SIGKILL leaves the previous checkpoint intact.

The file is a magic string, the sections (raw arrays: fingerprint table, trace links,
frontier entries; and JSON), then a trailer: a JSON header (the run's identity and a
table of the sections with their sizes and CRC-32s), its length and a closing magic
string.  The trailer comes last so that sections stream to the file as they are made
(a frontier of millions of entries is never built in memory) and stream back on
resume.  Nothing in it is pickled, so loading a checkpoint runs no code of the file's
choosing; the identity covers everything the result depends on
(``cowlab.check.identity``), so a checkpoint is resumed only by the run that wrote it.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

#: 4: a frontier entry's place (depth, or a partition's key) has a length of its own
FORMAT = 4
_MAGIC = b"COWLABCK"
_END = b"COWLABND"
_LENGTH = struct.Struct("<I")
#: a section is its bytes, or chunks of them written as they come
Section = tuple[str, "bytes | Iterable[bytes | memoryview]"]


class CheckpointError(ValueError):
    pass


class Checkpointer:
    """Saves ``meta`` and a memory to ``path`` every ``every`` seconds."""

    def __init__(self, path: str | os.PathLike[str], meta: dict[str, Any], every: float = 30.0) -> None:
        self.path = Path(path)
        self.meta = {"format": FORMAT, **meta}
        self.every = every
        self._last = time.monotonic()
        self.saves = 0

    def maybe_save(self, memory: object) -> None:
        if time.monotonic() - self._last >= self.every:
            self.save(memory)

    def save(self, memory: object) -> None:
        kind, sections = _sections_of(memory)
        tmp = self.path.with_name(self.path.name + ".tmp")
        table = []
        with open(tmp, "wb") as f:
            f.write(_MAGIC)
            for name, data in sections:
                size = crc = 0
                for chunk in (data,) if isinstance(data, bytes) else data:  # bytes or memoryviews
                    f.write(chunk)
                    size += len(chunk)
                    crc = zlib.crc32(chunk, crc)
                table.append([name, size, crc])
            header = json.dumps({"meta": self.meta, "kind": kind, "sections": table}).encode()
            f.write(header + _LENGTH.pack(len(header)) + _END)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._last = time.monotonic()
        self.saves += 1


def _sections_of(memory: object) -> tuple[str, list[Section]]:
    from cowlab.check.random_walk import WalkMemory

    kind = "walks" if isinstance(memory, WalkMemory) else "search"
    return kind, memory.checkpoint_sections()  # type: ignore[attr-defined]


class SectionReader:
    """One section of a checkpoint, read from the file in order, whole or in chunks;
    its CRC-32 is checked when the last byte has been read."""

    def __init__(self, f: IO[bytes], path: Path, name: str, offset: int, size: int, crc: int) -> None:
        self._f, self._path, self.name = f, path, name
        self._offset, self.size, self._crc = offset, size, crc
        self._read = 0
        self._running = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self._read
        n = left if n < 0 else min(n, left)
        self._f.seek(self._offset + self._read)
        data = self._f.read(n)
        if len(data) != n:
            raise CheckpointError(f"{self._path}: checkpoint section {self.name} is truncated")
        self._read += n
        self._running = zlib.crc32(data, self._running)
        if self._read == self.size and self._running != self._crc:
            raise CheckpointError(f"{self._path}: checkpoint section {self.name} is damaged")
        return data

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        while self._read < self.size:
            yield self.read(size)


def require_format(path: Path, what: str, found: object, wanted: int) -> None:
    """A file of another format cannot be read on: one line says so."""
    if found != wanted:
        raise CheckpointError(
            f"{path}: {what} format {found!r} (this cowlab reads format {wanted}): start the run again"
        )


def load_checkpoint(path: str | os.PathLike[str], meta: dict[str, Any]) -> Any:
    """The memory saved at ``path``, after checking it belongs to this run."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _load(f, path, meta)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from None


def _load(f: IO[bytes], path: Path, meta: dict[str, Any]) -> Any:
    size = f.seek(0, os.SEEK_END)
    tail = len(_END) + _LENGTH.size
    f.seek(0)
    if size < len(_MAGIC) + tail or f.read(len(_MAGIC)) != _MAGIC:
        raise CheckpointError(f"{path}: not a cowlab checkpoint (or one of an older format)")
    f.seek(size - tail)
    trailer = f.read(tail)
    if trailer[_LENGTH.size :] != _END:
        raise CheckpointError(f"{path}: checkpoint is truncated or damaged (no trailer)")
    (length,) = _LENGTH.unpack_from(trailer)
    header_at = size - tail - length
    try:
        if header_at < len(_MAGIC):
            raise ValueError
        f.seek(header_at)
        header = json.loads(f.read(length))
        saved = header["meta"]
        table = [(str(name), int(n), int(crc)) for name, n, crc in header["sections"]]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: damaged checkpoint header") from None
    require_format(path, "checkpoint", saved.get("format"), FORMAT)
    for key, value in meta.items():
        if saved.get(key) != value:
            raise CheckpointError(
                f"{path}: checkpoint is for {key}={saved.get(key)!r}, this run has {value!r}"
            )
    sections: dict[str, SectionReader] = {}
    offset = len(_MAGIC)
    for name, n, crc in table:
        sections[name] = SectionReader(f, path, name, offset, n, crc)
        offset += n
    if offset != header_at:
        raise CheckpointError(f"{path}: checkpoint sections do not add up to the file")
    try:
        if header.get("kind") == "search":
            from cowlab.check.search import Memory

            return Memory.from_checkpoint_sections(sections)
        if header.get("kind") == "walks":
            from cowlab.check.random_walk import WalkMemory

            return WalkMemory.from_checkpoint_sections(sections)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from None
    raise CheckpointError(f"{path}: unknown checkpoint kind {header.get('kind')!r}")
