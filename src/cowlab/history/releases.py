"""Mainline release tags in order, for naming kernels and placing commits.

Up to v6.18 (2025-11-30, docs/research/timeline-v6.18.md); a release after the last
modeled commit applies every modeled commit, so it behaves as that commit's release
wherever later commits (not yet modeled) did not change the paths."""

from __future__ import annotations

import re

RELEASES: tuple[str, ...] = (
    tuple(f"v4.{i}" for i in range(0, 21))
    + tuple(f"v5.{i}" for i in range(0, 20))
    + tuple(f"v6.{i}" for i in range(0, 19))
)
RELEASE_INDEX: dict[str, int] = {tag: i for i, tag in enumerate(RELEASES)}

_TAG = re.compile(r"v([0-9]+)\.([0-9]+)", re.ASCII)


def normalize_release(text: str) -> str | None:
    """``"v5.16"`` if ``text`` is exactly that modeled release's name, else None: a name
    is exact (``5.16``, ``v5.16 `` or full-width digits are not names of a kernel)."""
    match = _TAG.fullmatch(text)
    if not match:
        return None
    tag = f"v{int(match.group(1))}.{int(match.group(2))}"
    return tag if tag == text and tag in RELEASE_INDEX else None
