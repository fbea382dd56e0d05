"""What a check run's result depends on, written into its checkpoints: a checkpoint is
resumed only by a run with the same identity, so a resumed run can never mix the
states of two models, two configurations or two layouts.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from cowlab import __version__
from cowlab.check.keyhash import FINGERPRINT
from cowlab.check.model import CheckModel
from cowlab.history import Kernel
from cowlab.scenario import CheckConfig

#: the packages whose source decides what a state is and how it steps
MODEL_PACKAGES = ("check", "engine", "history", "invariants", "kernel", "model", "scenario")


def run_identity(
    config: CheckConfig,
    kernel: Kernel,
    model: CheckModel,
    *,
    strategy: str,
    reduce: bool,
    sanity: bool,
    seed: int,
    fingerprint_bits: int,
) -> dict[str, Any]:
    """The run's identity: every value must match for a checkpoint to be resumed."""
    walks = strategy == "random"
    return {
        "cowlab": __version__,
        "model_source": model_source_digest(),
        "config": config.name,
        "config_sha256": hashlib.sha256(repr(config).encode()).hexdigest(),
        "kernel": kernel.name,
        "kernel_commits": [c.short for c in kernel.commits],
        "reverted": [c.short for c in kernel.reverted],
        "strategy": strategy,
        "reduce": reduce,
        "sanity": sanity,
        "seed": seed if walks else None,
        "fingerprint_bits": 64 if walks else fingerprint_bits,
        "fingerprint": FINGERPRINT,
        "layout": repr(model.initial().machine.L.bounds),  # type: ignore[attr-defined]
    }


@functools.cache
def model_source_digest() -> str:
    """SHA-256 of the model's source files (a development checkout changes between
    commits without changing its version)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in MODEL_PACKAGES:
        for path in sorted((root / package).rglob("*.py")) + sorted((root / package).rglob("*.pxd")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
