"""Checkpoints: the search memory written atomically (write, fsync, rename), so a crash
or SIGKILL leaves the previous checkpoint intact.

The file is a magic string, a JSON header (the run's identity, a table of sections
with their CRC-32s), then the sections: raw arrays (fingerprint table, trace links,
frontier entries, each with its own header) and JSON.  Nothing in it is pickled, so
loading a checkpoint runs no code of the file's choosing; the identity covers
everything the result depends on (``cowlab.check.runner.run_identity``), so a
checkpoint is resumed only by the run that wrote it.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path
from typing import Any

FORMAT = 3
_MAGIC = b"COWLABCK"
_LENGTH = struct.Struct("<I")


class CheckpointError(ValueError):
    pass


class Checkpointer:
    """Saves ``meta`` and a memory to ``path`` every ``every`` seconds."""

    def __init__(self, path: str | os.PathLike[str], meta: dict[str, Any], every: float = 30.0
                 ) -> None:
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
        header = json.dumps({
            "meta": self.meta,
            "kind": kind,
            "sections": [[name, len(data), zlib.crc32(data)] for name, data in sections],
        }).encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(_MAGIC + _LENGTH.pack(len(header)) + header)
            for _, data in sections:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._last = time.monotonic()
        self.saves += 1


def _sections_of(memory: object) -> tuple[str, list[tuple[str, bytes]]]:
    from cowlab.check.random_walk import WalkMemory

    kind = "walks" if isinstance(memory, WalkMemory) else "search"
    return kind, memory.checkpoint_sections()  # type: ignore[attr-defined]


def load_checkpoint(path: str | os.PathLike[str], meta: dict[str, Any]) -> Any:
    """The memory saved at ``path``, after checking it belongs to this run."""
    try:
        with open(path, "rb") as f:
            data = memoryview(f.read())
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from None
    head = len(_MAGIC) + _LENGTH.size
    if len(data) < head or bytes(data[:len(_MAGIC)]) != _MAGIC:
        raise CheckpointError(f"{path}: not a cowlab checkpoint (or one of an older format)")
    (length,) = _LENGTH.unpack_from(data, len(_MAGIC))
    try:
        header = json.loads(bytes(data[head:head + length]))
        saved = header["meta"]
        table = [(str(name), int(size), int(crc)) for name, size, crc in header["sections"]]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: damaged checkpoint header") from None
    if saved.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {saved.get('format')!r} "
                              f"(this cowlab reads format {FORMAT}): start the run again")
    for key, value in meta.items():
        if saved.get(key) != value:
            raise CheckpointError(f"{path}: checkpoint is for {key}={saved.get(key)!r}, "
                                  f"this run has {value!r}")
    sections: dict[str, memoryview] = {}
    offset = head + length
    for name, size, crc in table:
        section = data[offset:offset + size]
        if len(section) != size or zlib.crc32(section) != crc:
            raise CheckpointError(f"{path}: checkpoint section {name} is truncated or damaged")
        sections[name] = section
        offset += size
    if offset != len(data):
        raise CheckpointError(f"{path}: checkpoint has {len(data) - offset} bytes after its sections")
    try:
        if header.get("kind") == "search":
            from cowlab.check.search import Memory

            return Memory.from_checkpoint_sections(sections)
        if header.get("kind") == "walks":
            from cowlab.check.random_walk import WalkMemory

            return WalkMemory.from_checkpoint_sections(sections)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from None
    raise CheckpointError(f"{path}: unknown checkpoint kind {header.get('kind')!r}")
