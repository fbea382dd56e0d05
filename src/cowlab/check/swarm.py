"""A swarm of seeded random walks, for configurations too large to finish: N members,
each ``random_walks`` with its own seed (so its own order of choices), run as Ray tasks
(``--engine ray``) or processes (``--workers N``), as swarm verification runs many
differently ordered searches in parallel instead of one exhaustive search.

Each member is bounded by the run's limits.  The swarm reports the shortest
counterexample any member found (ties broken by a fixed order of transitions), and its
coverage: the distinct states the members saw together (the union of their
fingerprints) against the sum of what each saw, which tells how much the members
repeated each other.  A member that finds nothing proves nothing; neither does the
swarm.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cowlab.check.checkpoint import Checkpointer, load_checkpoint
from cowlab.check.fingerprints import FingerprintSet
from cowlab.check.model import CheckModel
from cowlab.check.random_walk import WalkMemory, new_walk_memory, random_walks
from cowlab.check.ray_engine import ModelRecipe, connect, disconnect, model_from, model_recipe
from cowlab.check.result import Limits, SearchResult, Stats, peak_rss_mb, trace_order


@dataclass
class Member:
    """What one member brings back: its result and the fingerprints it saw."""

    seed: int
    result: SearchResult
    seen: FingerprintSet
    peak_mb: float


def member_file(directory: Path, seed: int) -> Path:
    return directory / f"walker-{seed}.ckpt"


def run_member(
    model: CheckModel, limits: Limits, seed: int, directory: Path | None, meta: dict[str, Any], resume: bool
) -> Member:
    """One member's walks from ``seed``, checkpointed in ``directory`` if given."""
    path = member_file(directory, seed) if directory is not None else None
    meta = {**meta, "seed": seed}
    if resume and path is not None and path.exists():
        memory = load_checkpoint(path, meta)
        assert isinstance(memory, WalkMemory)
    else:
        memory = new_walk_memory(seed)
    checkpointer = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpointer = Checkpointer(path, meta)
    result = random_walks(model, limits, memory, checkpointer=checkpointer)
    return Member(seed, result, memory.seen, peak_rss_mb())


def _ray_member(
    recipe: ModelRecipe, limits: Limits, seed: int, directory: Path | None, meta: dict[str, Any], resume: bool
) -> Member:
    return run_member(model_from(recipe), limits, seed, directory, meta, resume)


def swarm(
    model: CheckModel,
    limits: Limits,
    members: int | None,
    *,
    engine: str,
    seed: int = 0,
    address: str | None = None,
    directory: str | None = None,
    meta: dict[str, Any] | None = None,
    resume: bool = False,
) -> SearchResult:
    """``members`` random-walk searches with seeds ``seed``, ``seed + 1``, ...: the
    shortest violation any found, or the swarm's coverage."""
    stats = Stats()  # the swarm's own clock: start-up included
    where = Path(directory) if directory is not None else None
    meta = meta or {}
    if engine == "ray":
        ray_ = connect(address, members)
        try:
            count = members or int(ray_.cluster_resources().get("CPU", 1))
            task = ray_.remote(num_cpus=1)(_ray_member)
            recipe = model_recipe(model)
            refs = [task.remote(recipe, limits, seed + i, where, meta, resume) for i in range(count)]
            found = ray_.get(refs)
        finally:
            disconnect(ray_)
    else:
        count = members or 1
        with mp.get_context("fork").Pool(count) as pool:
            found = pool.starmap(
                run_member, [(model, limits, seed + i, where, meta, resume) for i in range(count)]
            )
            # let the idle members exit on their own: the context's terminate() would
            # SIGTERM them while holding their task queue's lock, and a member that
            # inherited a SIGTERM handler that returns (a driver's Ray, a CLI) waits on
            # that lock for ever (seen once in CI: the run hung in Pool.__exit__)
            pool.close()
            pool.join()
    return _gathered(found, stats)


def _gathered(members: list[Member], stats: Stats) -> SearchResult:
    union = FingerprintSet(64)
    for m in members:
        for fp in m.seen:
            union.add(fp)
        stats.transitions += m.result.stats.transitions
        stats.max_depth = max(stats.max_depth, m.result.stats.max_depth)
    stats.distinct = len(union)
    violations = [m.result for m in members if m.result.outcome == "violation"]
    coverage = {
        "members": [
            {"seed": m.seed, "distinct": m.result.stats.distinct, "outcome": m.result.outcome}
            for m in members
        ],
        "union": len(union),
        "sum": sum(m.result.stats.distinct for m in members),
    }
    peak = sum(m.peak_mb for m in members)
    if violations:
        best = min(violations, key=lambda r: (len(r.trace), trace_order(r.trace)))
        return SearchResult(
            "violation",
            stats,
            trace=best.trace,
            violations=best.violations,
            workers=len(members),
            workers_peak_mb=peak,
            coverage=coverage,
        )
    reasons = sorted({m.result.reason for m in members})
    return SearchResult(
        "limit",
        stats,
        reason="; ".join(reasons),
        workers=len(members),
        workers_peak_mb=peak,
        coverage=coverage,
    )
