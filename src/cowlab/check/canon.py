"""Canonical state keys for the visited set."""

from __future__ import annotations

from cowlab.check.model import CheckState


def canonical(state: CheckState) -> object:
    """The key under which a state is remembered (identity for now)."""
    return state
