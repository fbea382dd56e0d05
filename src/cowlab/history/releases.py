"""Mainline release tags in order, for naming kernels and placing commits."""

from __future__ import annotations

import re

RELEASES: tuple[str, ...] = (
    tuple(f"v4.{i}" for i in range(0, 21))
    + tuple(f"v5.{i}" for i in range(0, 20))
    + tuple(f"v6.{i}" for i in range(0, 13))
)
RELEASE_INDEX: dict[str, int] = {tag: i for i, tag in enumerate(RELEASES)}

_TAG = re.compile(r"^v?(\d+)\.(\d+)$")


def normalize_release(text: str) -> str | None:
    """``"5.16"`` or ``"v5.16"`` -> ``"v5.16"`` if it is a modeled release, else None."""
    match = _TAG.match(text.strip())
    if not match:
        return None
    tag = f"v{int(match.group(1))}.{int(match.group(2))}"
    return tag if tag in RELEASE_INDEX else None
