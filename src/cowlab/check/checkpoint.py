"""Checkpoints: the search memory pickled atomically (write, fsync, rename), so a
crash or SIGKILL leaves the previous checkpoint intact."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any

FORMAT = 1


class CheckpointError(ValueError):
    pass


class Checkpointer:
    """Saves ``{"meta": ..., "memory": ...}`` to ``path`` every ``every`` seconds."""

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
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"meta": self.meta, "memory": memory}, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._last = time.monotonic()
        self.saves += 1


def load_checkpoint(path: str | os.PathLike[str], meta: dict[str, Any]) -> Any:
    """The memory saved at ``path``, after checking it belongs to this run."""
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc}") from None
    saved = data.get("meta", {})
    want = {"format": FORMAT, **meta}
    for key, value in want.items():
        if saved.get(key) != value:
            raise CheckpointError(f"{path}: checkpoint is for {key}={saved.get(key)!r}, "
                                  f"this run has {value!r}")
    return data["memory"]
