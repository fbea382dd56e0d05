"""The level loop of a parallel breadth-first search, whatever carries its messages.

Each level, every worker expands its partition (``partition.Partition``), asks the
other workers what the reduction's level proviso needs to know about successors they
own, settles the states that waited for the answers, and sends each other worker one
batch of the successors that worker owns; then every worker receives its batches.
The loop waits for the whole level (a barrier) before the next, so the first
violation found is at the least depth and its trace is a shortest one.  Among the
level's violations, the one of least key (``partition``: where one process's queue
would have met it) is reported, with the counts one process had then, so the answer is
one process's, whatever the number of workers and whichever finished first.

``Workers`` is the transport: processes on this machine (``parallel``) or Ray actors
(``ray_engine``).  Both keep their batches out of the loop's hands where they can: the
loop only routes them.

Checkpoints (``LevelCheckpoints``) are taken at a barrier: every partition writes its
own file, then a manifest names the level they belong to.  A worker that dies is
started again and every partition goes back to the last checkpoint, so the run loses
time, never states; without a checkpoint it stops with a clear error.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cowlab.check.checkpoint import CheckpointError, require_format
from cowlab.check.model import CheckModel, Transition
from cowlab.check.partition import Found, LevelReport
from cowlab.check.result import Limits, SearchResult, Stats, current_rss_mb
from cowlab.check.search import Progress, transitions_along
from cowlab.check.trace_links import ROOT

#: how many times a run starts dead workers again before it gives up
REVIVALS = 3
MANIFEST = "manifest.json"
#: 2: frontier entries carry their key (the order of one process's queue)
MANIFEST_FORMAT = 2


class WorkerLost(RuntimeError):
    """A worker died (killed, out of memory, its node lost)."""

    def __init__(self, worker: int, why: str) -> None:
        super().__init__(f"worker {worker} died: {why}")
        self.worker = worker


class Workers(Protocol):
    """The transport to ``size`` partitions.  Batches are opaque to the loop: bytes, or
    references to bytes held elsewhere."""

    size: int

    def seed(self) -> int: ...

    def expand(self) -> tuple[list[LevelReport], list[list[Any]]]:
        """Every worker's report and its questions, ``questions[sender][owner]``."""
        ...

    def answer(self, questions: list[list[Any]]) -> list[list[Any]]:
        """Give each owner ``questions[owner]`` (one per sender, in worker order): the
        answers, ``answers[owner][sender]``."""
        ...

    def settle(self, answers: list[list[Any]]) -> tuple[list[LevelReport], list[list[Any]]]:
        """Give each sender ``answers[sender]`` (one per owner): every worker's report
        and its batches, ``batches[sender][owner]``."""
        ...

    def receive(self, batches: list[list[Any]]) -> list[LevelReport]:
        """Give each owner ``batches[owner]`` (one per sender, in worker order)."""
        ...

    def below(self, key: int) -> list[tuple[int, int, int]]:
        """Every worker's ``Partition.below(key)``."""
        ...

    def link(self, worker: int, index: int) -> tuple[int, int]: ...

    def memory(self) -> list[tuple[float, float]]:
        """Each worker's (resident, peak) memory in MB."""
        ...

    def save(self, directory: Path, meta: dict[str, Any]) -> None:
        """Every partition writes ``directory/partition-W.ckpt``."""
        ...

    def restore(self, directory: Path, meta: dict[str, Any]) -> None:
        """Every partition loads its file from ``directory``."""
        ...

    def revive(self) -> list[int]:
        """Start the dead workers again (empty partitions); the ones started."""
        ...

    def close(self) -> float:
        """Stop every worker: the sum of their peak memory in MB."""
        ...


class LevelCheckpoints:
    """A directory of checkpoints taken at level barriers: ``level-L/partition-W.ckpt``
    per worker, and a manifest, replaced last and atomically, naming the complete
    level and holding the run's statistics."""

    def __init__(self, directory: str | os.PathLike[str], meta: dict[str, Any], every: float) -> None:
        self.directory = Path(directory)
        self.meta = meta
        self.every = every
        self._last = time.monotonic()
        self.saves = 0

    def partition_meta(self, workers: int, level: int) -> dict[str, Any]:
        return {**self.meta, "workers": workers, "level": level}

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every

    def save(self, workers: Workers, level: int, frontier: int, stats: Stats) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        level_dir = self.directory / f"level-{level}"
        workers.save(level_dir, self.partition_meta(workers.size, level))
        manifest = {
            "format": MANIFEST_FORMAT,
            "meta": self.partition_meta(workers.size, level),
            "level": level,
            "frontier": frontier,
            "stats": stats.to_plain(),
        }
        tmp = self.directory / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, self.directory / MANIFEST)
        for old in self.directory.glob("level-*"):
            if old != level_dir:
                shutil.rmtree(old, ignore_errors=True)
        self._last = time.monotonic()
        self.saves += 1

    def load(self, workers: Workers) -> tuple[int, int, Stats]:
        """Every partition back at the manifest's level: (level, frontier, statistics)."""
        path = self.directory / MANIFEST
        try:
            manifest = json.loads(path.read_text())
            level = manifest["level"]
            frontier = manifest["frontier"]
            stats = Stats.from_plain(manifest["stats"])
            saved = manifest["meta"]
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot read the checkpoint manifest: {exc}") from None
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path}: damaged checkpoint manifest") from None
        require_format(path, "checkpoint manifest", manifest.get("format"), MANIFEST_FORMAT)
        if not all(type(v) is int and v >= 0 for v in (level, frontier)):
            raise CheckpointError(
                f"{path}: damaged checkpoint manifest (level {level!r}, frontier {frontier!r})"
            )
        for key, value in self.partition_meta(workers.size, level).items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"{path}: checkpoint is for {key}={saved.get(key)!r}, this run has {value!r}"
                )
        workers.restore(self.directory / f"level-{level}", self.partition_meta(workers.size, level))
        stats.resume_clock()
        return level, frontier, stats


def search_on(
    model: CheckModel,
    limits: Limits,
    workers: Workers,
    *,
    progress: Progress | None = None,
    checkpoints: LevelCheckpoints | None = None,
    resume: bool = False,
) -> SearchResult:
    """``level_bfs`` over ``workers``, which are closed at the end whatever happens; the
    result says how many there were and their peak memory."""
    result: SearchResult | None = None
    try:
        result = level_bfs(model, limits, workers, progress=progress, checkpoints=checkpoints, resume=resume)
    finally:
        peak = workers.close()
        if result is not None:
            result.workers_peak_mb = peak
            result.workers = workers.size
    return result


@dataclass
class StopRequest:
    requested: bool = False


@contextmanager
def stop_at_barrier() -> Iterator[StopRequest]:
    """The first SIGINT or SIGTERM asks the loop to stop at the next barrier, where the
    partitions are in step and a checkpoint can be taken; a second one stops at once
    (the last checkpoint stays good)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(_signum: int, _frame: object) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        sys.stderr.write("cowlab check: stopping at the end of this level (again to stop at once)\n")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def level_bfs(
    model: CheckModel,
    limits: Limits,
    workers: Workers,
    *,
    progress: Progress | None = None,
    checkpoints: LevelCheckpoints | None = None,
    resume: bool = False,
) -> SearchResult:
    """Breadth-first search level by level over ``workers``; with ``checkpoints``, save
    at barriers every ``checkpoints.every`` seconds and recover from dead workers."""
    if resume:
        assert checkpoints is not None
        level, frontier, stats = checkpoints.load(workers)
    else:
        level, frontier, stats = 0, 1, Stats()
        stats.distinct = workers.seed()
        if checkpoints is not None:
            checkpoints.save(workers, level, frontier, stats)
    revivals = 0
    exchanged = [0]
    lost: WorkerLost | None = None
    with stop_at_barrier() as stop:
        while True:
            try:
                if lost is not None:  # every partition back to the last barrier saved
                    workers.revive()
                    level, frontier, stats = checkpoints.load(workers)  # type: ignore[union-attr]
                    lost = None
                return _levels(
                    model, limits, workers, stats, level, frontier, progress, checkpoints, exchanged, stop
                )
            except KeyboardInterrupt:
                return _result("limit", stats, exchanged, reason="interrupted")
            except WorkerLost as exc:
                lost = exc
                revivals += 1
                if checkpoints is None:
                    raise CheckpointError(f"{lost}; no checkpoint to go back to") from None
                if revivals > REVIVALS:
                    raise CheckpointError(
                        f"{lost} ({REVIVALS} workers started again already); the last checkpoint is in "
                        f"{checkpoints.directory}: resume with --resume {checkpoints.directory}"
                    ) from None


def _levels(
    model: CheckModel,
    limits: Limits,
    workers: Workers,
    stats: Stats,
    level: int,
    frontier: int,
    progress: Progress | None,
    checkpoints: LevelCheckpoints | None,
    exchanged: list[int],
    stop: StopRequest,
) -> SearchResult:
    while frontier:
        if stop.requested:
            if checkpoints is not None:
                checkpoints.save(workers, level, frontier, stats)
            return _result("limit", stats, exchanged, reason="interrupted")
        if level >= limits.max_depth:
            stats.depth_cut = frontier
            return _result("complete", stats, exchanged, reason=f"max-depth {limits.max_depth}")
        reason = _limit(limits, stats, workers)
        if reason:
            return _result("limit", stats, exchanged, reason=reason)
        start = Counts.of(stats, model)
        reports, questions = workers.expand()
        found = _tally(model, reports, stats, exchanged)
        reports, batches = workers.settle(_transpose(workers.answer(_transpose(questions))))
        found += _tally(model, reports, stats, exchanged)
        received = workers.receive(_transpose(batches))
        found += _tally(model, received, stats, exchanged)
        if found:
            return _violation(model, workers, found, stats, start, level, exchanged)
        frontier = sum(r.frontier for r in received)
        level += 1
        if frontier:
            stats.max_depth = max(stats.max_depth, level)
        if progress is not None:
            progress(stats, frontier)
        if checkpoints is not None and checkpoints.due():
            checkpoints.save(workers, level, frontier, stats)
    if checkpoints is not None:
        checkpoints.save(workers, level, frontier, stats)
    return _result("complete", stats, exchanged)


def _transpose(rows: list[list[Any]]) -> list[list[Any]]:
    """``rows[a][b]`` as ``[b][a]``: what each sender addressed to each owner, as what
    each owner receives from each sender."""
    return [list(column) for column in zip(*rows, strict=True)]


@dataclass(frozen=True)
class Counts:
    """The counts a violation's are made of: the run's before the level began."""

    distinct: int
    transitions: int
    reduced: int

    @classmethod
    def of(cls, stats: Stats, model: CheckModel) -> Counts:
        return cls(stats.distinct, stats.transitions, model.stats_reduced)


def _tally(
    model: CheckModel, reports: Sequence[LevelReport], stats: Stats, exchanged: list[int]
) -> list[Found]:
    """Add one step's reports to the run's counts: the violations they found."""
    for r in reports:
        stats.transitions += r.transitions
        stats.distinct += r.new
        model.stats_reduced += r.reduced
        exchanged[0] += r.sent
    return [f for r in reports for f in r.found]


def _result(outcome: str, stats: Stats, exchanged: list[int], **kw: Any) -> SearchResult:
    return SearchResult(outcome, stats, exchanged_bytes=exchanged[0], **kw)


def _violation(
    model: CheckModel,
    workers: Workers,
    found: list[Found],
    stats: Stats,
    start: Counts,
    level: int,
    exchanged: list[int],
) -> SearchResult:
    """The level's violations are equally short: report the one of least key, which one
    process meets first, with what it had counted then (its counts stop in the middle
    of the level; every worker counts its part below the key)."""
    first = min(found, key=lambda f: f.key)
    states, transitions, reduced = (sum(column) for column in zip(*workers.below(first.key), strict=True))
    stats.distinct = start.distinct + states + int(first.stored)
    stats.transitions = start.transitions + transitions
    model.stats_reduced = start.reduced + reduced
    if states:  # one deeper than the level, as one process's first new state made it
        stats.max_depth = level + 1
    trace = _trace(model, workers, first)
    return _result("violation", stats, exchanged, trace=trace, violations=first.violations)


def _trace(model: CheckModel, workers: Workers, found: Found) -> list[Transition]:
    """Walk the trace links back across partitions, then step forward again."""
    numbers = [found.number]
    parent = found.parent
    while parent != ROOT:
        parent, number = workers.link(parent % workers.size, parent // workers.size)
        if parent != ROOT:
            numbers.append(number)
    numbers.reverse()
    return transitions_along(model, numbers)


def _limit(limits: Limits, stats: Stats, workers: Workers) -> str:
    """At a barrier: the state, time or memory limit (this process's memory and every
    worker's), or ""."""
    return limits.states_reached(stats) or limits.clock_or_memory_reached(
        stats, lambda: current_rss_mb() + sum(rss for rss, _ in workers.memory())
    )
