"""Search limits, statistics and outcomes shared by every strategy."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cowlab.check.model import Transition
from cowlab.invariants import Violation


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10_000
    max_states: int = 50_000_000
    time_limit: float | None = None
    memory_limit_mb: int | None = None

    def states_reached(self, stats: Stats) -> str:
        """The reason to stop for the state limit, or ""."""
        return f"max-states {self.max_states}" if stats.distinct >= self.max_states else ""

    def clock_or_memory_reached(self, stats: Stats, resident_mb: Callable[[], float]) -> str:
        """The reason to stop for the time or memory limit, or "" (``resident_mb`` is
        asked only when there is a memory limit)."""
        if self.time_limit is not None and stats.seconds >= self.time_limit:
            return f"time-limit {self.time_limit:g}s"
        if self.memory_limit_mb is not None and resident_mb() >= self.memory_limit_mb:
            return f"memory-limit {self.memory_limit_mb} MB"
        return ""


@dataclass
class Stats:
    distinct: int = 0
    transitions: int = 0
    max_depth: int = 0
    depth_cut: int = 0
    #: seconds spent before the last resume
    earlier: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def resume_clock(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return self.earlier + time.monotonic() - self.started

    def rate(self, count: int) -> float:
        return count / self.seconds if self.seconds > 0 else 0.0

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["earlier"] = self.seconds
        return state

    def to_plain(self) -> dict[str, int | float]:
        """The counts and the time spent so far, for a checkpoint."""
        return {
            "distinct": self.distinct,
            "transitions": self.transitions,
            "max_depth": self.max_depth,
            "depth_cut": self.depth_cut,
            "earlier": self.seconds,
        }

    @classmethod
    def from_plain(cls, data: dict[str, object]) -> Stats:
        counts = {name: data[name] for name in ("distinct", "transitions", "max_depth", "depth_cut")}
        if not all(type(v) is int and v >= 0 for v in counts.values()):
            raise ValueError(f"statistics are not counts: {counts}")
        earlier = data["earlier"]
        if not isinstance(earlier, (int, float)) or earlier < 0:
            raise ValueError(f"statistics: bad time {earlier!r}")
        return cls(**counts, earlier=float(earlier))  # type: ignore[arg-type]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / (1024 * 1024)
    except OSError:
        return peak_rss_mb()


def trace_order(trace: list[Transition]) -> list[tuple[str, ...]]:
    """A fixed order of traces, to choose among equally short counterexamples
    whatever order the workers found them in."""
    return [tuple(map(repr, t)) for t in trace]


@dataclass
class SearchResult:
    #: "violation", "complete" (no violation within the bounds) or "limit"
    outcome: str
    stats: Stats
    trace: list[Transition] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    reason: str = ""
    #: the parallel search's workers: the sum of their peak memory
    workers_peak_mb: float = 0.0
    #: the parallel search: how many workers, and the bytes of the batches they sent
    #: each other
    workers: int = 1
    exchanged_bytes: int = 0
    #: a swarm of random walks: each member's seed, distinct states and outcome, and
    #: the distinct states of all together ("union") against their "sum"
    coverage: dict[str, Any] | None = None


class Stopper:
    """Decides when a limit stops the search, and raises ``tick`` about twice a second
    for progress reports and checkpoints.  Cheap: looks at the clock every few hundred
    states."""

    def __init__(self, limits: Limits, stats: Stats, every: int = 128) -> None:
        self.limits = limits
        self.stats = stats
        self.every = every
        self._count = 0
        self._last_tick = time.monotonic()
        self.tick = False

    def poll(self, memory: object, queue: int, checkpointer: object, progress: object) -> str:
        """``check``, then on a tick save a checkpoint and report progress."""
        reason = self.check(queue)
        if self.tick and not reason:
            if checkpointer is not None:
                checkpointer.maybe_save(memory)  # type: ignore[attr-defined]
            if progress is not None:
                progress(self.stats, queue)  # type: ignore[operator]
        return reason

    def check(self, queue: int) -> str:
        """The state limit is looked at before every expansion, so a run stopped by it
        stops at the same state however often it was killed and resumed on the way; the
        clock and the memory only every ``every`` expansions."""
        self.tick = False
        reason = self.limits.states_reached(self.stats)
        if reason:
            return reason
        self._count += 1
        if self._count % self.every:
            return ""
        now = time.monotonic()
        if now - self._last_tick >= 0.5:
            self.tick = True
            self._last_tick = now
        return self.limits.clock_or_memory_reached(self.stats, current_rss_mb)
