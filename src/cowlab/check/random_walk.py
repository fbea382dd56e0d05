"""Seeded random walks: many executions from the initial state, each choosing an
enabled transition at random, until a violation, a dead end or the depth limit.
Finds deep bugs in spaces too large to exhaust; proves nothing when it finds none."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cowlab.check.canon import canonical
from cowlab.check.checkpoint import Checkpointer
from cowlab.check.model import CheckModel, Transition
from cowlab.check.result import Limits, SearchResult, Stats, Stopper
from cowlab.check.search import Progress, no_cyclic_gc


@dataclass
class WalkMemory:
    strategy: str
    seed: int
    rng_state: object = None
    walks: int = 0
    seen: set[object] = field(default_factory=set)
    stats: Stats = field(default_factory=Stats)


def new_walk_memory(seed: int) -> WalkMemory:
    mem = WalkMemory("random", seed)
    mem.rng_state = random.Random(seed).getstate()
    return mem


def random_walks(
    model: CheckModel,
    limits: Limits,
    mem: WalkMemory,
    *,
    max_walks: int = 1_000_000,
    checkpointer: Checkpointer | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    rng = random.Random()
    rng.setstate(mem.rng_state)  # type: ignore[arg-type]
    stats = mem.stats
    stats.resume_clock()
    stop = Stopper(limits, stats, every=1)
    depth_limit = min(limits.max_depth, 100_000)
    with no_cyclic_gc():
        return _walks(model, rng, mem, stop, depth_limit, max_walks, checkpointer, progress)


def _walks(model: CheckModel, rng: random.Random, mem: WalkMemory, stop: Stopper,
           depth_limit: int, max_walks: int, checkpointer: Checkpointer | None,
           progress: Progress | None) -> SearchResult:
    stats = mem.stats
    try:
        while mem.walks < max_walks:
            mem.rng_state = rng.getstate()
            reason = stop.poll(mem, 0, checkpointer, progress)
            if reason:
                return _stop(mem, reason, checkpointer)
            state = model.initial()
            trace: list[Transition] = []
            for _ in range(depth_limit):
                enabled = model.transitions(state)
                if not enabled:
                    break
                t = rng.choice(enabled)
                state, found, _ = model.step(state, t)
                trace.append(t)
                stats.transitions += 1
                if found:
                    return SearchResult("violation", stats, trace=trace, violations=found)
                key = canonical(state, model.symmetry)
                if key not in mem.seen:
                    mem.seen.add(key)
                    stats.distinct += 1
                    bug = model.sanity_of(state)
                    if bug:
                        return SearchResult("violation", stats, trace=trace, violations=bug)
                stats.max_depth = max(stats.max_depth, len(trace))
            mem.walks += 1
    except KeyboardInterrupt:
        return _stop(mem, "interrupted", checkpointer)
    return SearchResult("limit", stats, reason=f"{max_walks} walks without a violation")


def _stop(mem: WalkMemory, reason: str, checkpointer: Checkpointer | None) -> SearchResult:
    if checkpointer is not None:
        checkpointer.save(mem)
    return SearchResult("limit", mem.stats, reason=reason)
