"""Verdict matrix: scenarios x kernels, each cell from running the mechanism."""

from __future__ import annotations

from dataclasses import dataclass

from cowlab.engine.bisect import verdict_of
from cowlab.engine.run import run_scenario
from cowlab.history import STABLE_ONLY, TIMELINE, Kernel, find_commit, kernel_at
from cowlab.scenario import Scenario

DEFAULT_KERNELS: tuple[str, ...] = (
    "v4.9",
    "v5.7",
    "v5.8",
    "v5.9",
    "v5.10.262",
    "v5.16",
    "v5.17",
    "v5.18",
    "v5.19",
    "v6.1.192",
    "v6.2",
    "v6.12.117",
    "v6.18",
)


@dataclass
class Matrix:
    kernels: tuple[str, ...]
    rows: list[tuple[Scenario, list[str]]]
    #: per row, per kernel: the verdict the scenario declares ("holds", "broken" or None)
    declared: list[list[str | None]]

    def differences(self, expect: str = "declared") -> list[tuple[str, str, str, str]]:
        """(scenario, kernel, expected, verdict) of each cell that is not as expected:
        as the scenario declares (``introduced_by``/``fixed_by``), or ``holds`` or
        ``broken`` everywhere."""
        out = []
        for (sc, verdicts), declared in zip(self.rows, self.declared, strict=True):
            for kernel, verdict, wanted in zip(self.kernels, verdicts, declared, strict=True):
                want = wanted if expect == "declared" else expect
                if want is not None and verdict.split(":")[0] != want:
                    out.append((sc.name, kernel, want, verdict))
        return out


def matrix(scenarios: list[Scenario], kernels: tuple[str, ...] = DEFAULT_KERNELS) -> Matrix:
    built = [kernel_at(k) for k in kernels]
    rows = [(sc, [verdict_of(run_scenario(sc, k)) for k in built]) for sc in scenarios]
    declared = [[declared_verdict(sc, k) for k in built] for sc in scenarios]
    return Matrix(tuple(k.name for k in built), rows, declared)


def declared_verdict(scenario: Scenario, kernel: Kernel) -> str | None:
    """What the scenario says it does on ``kernel``: its declared commits
    (``introduced_by`` breaks it, ``fixed_by`` mends it) applied in timeline order as far
    as the kernel has them (a stable kernel has its backports, a revert undoes one).
    None if it declares nothing.  Before the first declared commit the verdict is the
    opposite of what that commit does."""
    order = TIMELINE + STABLE_ONLY  # a stable-only commit after every mainline one
    changes = sorted(
        [(order.index(find_commit(c)), "broken") for c in scenario.introduced_by]
        + [(order.index(find_commit(c)), "holds") for c in scenario.fixed_by]
    )
    if not changes:
        return None
    verdict = "holds" if changes[0][1] == "broken" else "broken"
    applied = set(kernel.commits)
    for position, after in changes:
        if order[position] in applied:
            verdict = after
    return verdict
