"""Verdict matrix: scenarios x kernels, each cell from running the mechanism."""

from __future__ import annotations

from dataclasses import dataclass

from cowlab.engine.bisect import verdict_of
from cowlab.engine.run import run_scenario
from cowlab.history import kernel_at
from cowlab.scenario import Scenario

DEFAULT_KERNELS: tuple[str, ...] = (
    "v4.9", "v5.7", "v5.8", "v5.9", "v5.10.262", "v5.16", "v5.17", "v5.18", "v5.19",
    "v6.1.192", "v6.2", "v6.12.117",
)


@dataclass
class Matrix:
    kernels: tuple[str, ...]
    rows: list[tuple[Scenario, list[str]]]


def matrix(scenarios: list[Scenario], kernels: tuple[str, ...] = DEFAULT_KERNELS) -> Matrix:
    built = [kernel_at(k) for k in kernels]
    rows = [(sc, [verdict_of(run_scenario(sc, k)) for k in built]) for sc in scenarios]
    return Matrix(tuple(k.name for k in built), rows)
