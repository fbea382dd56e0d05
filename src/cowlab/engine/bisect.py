"""Bisect: the first modeled commit at which a scenario's verdict changes.

Walks the commits between two kernels from the older to the newer, one kernel per
commit, so the answer is exact (verdicts can flip more than once: 17839856fd58 turned
a rule on that a308c71bf1e6 turned off again).  Reports the commit, its rules, and the
first step at which the two neighbouring traces differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cowlab.engine.run import RunResult, run_scenario
from cowlab.history import Commit, Kernel, UnknownKernelError, build_kernel, kernel_at
from cowlab.history.stable import parse_stable
from cowlab.history.timeline import TIMELINE
from cowlab.model.events import Decision
from cowlab.scenario import Scenario


def verdict_of(result: RunResult) -> str:
    """``holds``, or the promises broken, in order of first breach."""
    return "broken: " + ", ".join(result.broken) if result.broken else "holds"


@dataclass
class Change:
    commit: Commit
    before: str
    after: str
    #: first step whose kernel decisions differ: (index, decisions before, decisions after)
    step: int | None = None
    decisions_before: list[str] = field(default_factory=list)
    decisions_after: list[str] = field(default_factory=list)

    @property
    def direction(self) -> str:
        if self.after == "holds":
            return "first good"
        if self.before == "holds":
            return "first bad"
        return "verdict changes"

    @property
    def rules(self) -> list[tuple[str, bool]]:
        return list(self.commit.sets)


@dataclass
class BisectResult:
    scenario: Scenario
    older: Kernel
    newer: Kernel
    older_verdict: str
    newer_verdict: str
    changes: list[Change]

    @property
    def first(self) -> Change | None:
        return self.changes[0] if self.changes else None


def _path(older: str, newer: str) -> tuple[Kernel, Kernel, list[Kernel]]:
    """Kernels from ``older`` to ``newer``, one per commit between them."""
    sa, sb = parse_stable(older), parse_stable(newer)
    # a stable branch's base release is its sublevel 0
    if sa is None and sb is not None and kernel_at(older).name == sb[0]:
        older, sa = f"{sb[0]}.0", (sb[0], 0)
    if sb is None and sa is not None and kernel_at(newer).name == sa[0]:
        newer, sb = f"{sa[0]}.0", (sa[0], 0)
    a, b = kernel_at(older), kernel_at(newer)
    if (sa is None) != (sb is None) or (sa and sb and sa[0] != sb[0]):
        raise UnknownKernelError(
            f"bisect walks one line of history: {older} and {newer} are not both mainline "
            "or both on one stable branch"
        )
    if len(a.commits) > len(b.commits):
        a, b = b, a
    if b.commits[: len(a.commits)] != a.commits:
        raise UnknownKernelError(f"{a.name} is not an ancestor of {b.name} in the model")
    steps = []
    for i in range(len(a.commits) + 1, len(b.commits) + 1):
        commits = b.commits[:i]
        name = commits[-1].short if sa is None else f"{a.name}+{commits[-1].short}"
        steps.append(build_kernel(name, commits))
    return a, b, steps


def _first_difference(x: RunResult, y: RunResult) -> tuple[int | None, list[str], list[str]]:
    """The first step whose decisions differ, and the decisions from the first one that
    differs to the end of that step, on each side."""
    for rx, ry in zip(x.steps, y.steps, strict=False):
        dx = [str(e) for e in rx.events if type(e) is Decision]
        dy = [str(e) for e in ry.events if type(e) is Decision]
        if dx != dy:
            i = next(
                (i for i, (p, q) in enumerate(zip(dx, dy, strict=False)) if p != q), min(len(dx), len(dy))
            )
            return rx.index, dx[i:], dy[i:]
    return None, [], []


def bisect(scenario: Scenario, older: str, newer: str) -> BisectResult:
    a, b, path = _path(older, newer)
    previous = run_scenario(scenario, a)
    first_verdict = verdict = verdict_of(previous)
    changes: list[Change] = []
    for kernel in path:
        current = run_scenario(scenario, kernel)
        now = verdict_of(current)
        if now != verdict:
            step, before, after = _first_difference(previous, current)
            changes.append(Change(kernel.commits[-1], verdict, now, step, before, after))
        previous, verdict = current, now
    return BisectResult(scenario, a, b, first_verdict, verdict, changes)


__all__ = ["TIMELINE", "BisectResult", "Change", "bisect", "verdict_of"]
