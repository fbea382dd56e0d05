"""Modeled upstream commits, each with the rules it switches."""

from __future__ import annotations

from typing import NamedTuple


class Commit(NamedTuple):
    """An upstream commit: 12-hex short hash, title, first release containing it,
    where the behaviour was confirmed (a section of docs/reference/kernel-behaviour.md,
    a research note or a mail), the confidence tag as that reference uses it (``V``
    verified, ``M`` to double-check), and ``(rule, value)`` switches."""

    hash: str
    title: str
    release: str
    source: str
    sets: tuple[tuple[str, bool], ...] = ()
    confidence: str = "V"

    @property
    def short(self) -> str:
        return self.hash[:12]

    def describe(self) -> str:
        return f'{self.short} ("{self.title}", {self.release})'
