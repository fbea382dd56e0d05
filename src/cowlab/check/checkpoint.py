"""Checkpoints: the search memory written atomically (write, fsync, rename), so a crash
or SIGKILL leaves the previous checkpoint intact.

The file is a magic string, a JSON header (the run's identity and a table of
sections), then the sections as raw bytes.  A search memory is three sections: the
fingerprint table and the trace links as raw arrays (each with its own header and
checksum), and the rest (strategy, frontier, statistics) pickled; any other memory
(random walks) is one pickled section.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import time
import zlib
from pathlib import Path
from typing import Any

FORMAT = 2
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
    to_sections = getattr(memory, "checkpoint_sections", None)
    if to_sections is not None:
        return "search", to_sections()
    return "pickle", [("memory", pickle.dumps(memory, protocol=pickle.HIGHEST_PROTOCOL))]


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
    except ValueError:
        raise CheckpointError(f"{path}: damaged checkpoint header") from None
    saved = header.get("meta", {})
    want = {"format": FORMAT, **meta}
    for key, value in want.items():
        if saved.get(key) != value:
            raise CheckpointError(f"{path}: checkpoint is for {key}={saved.get(key)!r}, "
                                  f"this run has {value!r}")
    sections: dict[str, memoryview] = {}
    offset = head + length
    for name, size, crc in header["sections"]:
        section = data[offset:offset + size]
        if len(section) != size or zlib.crc32(section) != crc:
            raise CheckpointError(f"{path}: checkpoint section {name} is truncated or damaged")
        sections[name] = section
        offset += size
    try:
        if header["kind"] == "search":
            from cowlab.check.search import Memory

            return Memory.from_checkpoint_sections(sections)
        return pickle.loads(sections["memory"])
    except (ValueError, KeyError, pickle.UnpicklingError, EOFError) as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from None
