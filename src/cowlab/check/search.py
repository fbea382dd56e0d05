"""Exhaustive search over the check model, breadth-first (shortest counterexample) or
depth-first, resumable from a checkpoint.

The search's whole memory (visited keys, parent links, frontier, statistics) is one
picklable record, written atomically every ``checkpoint_every`` seconds and when a
limit or Ctrl-C stops the run, so a resumed run ends with the same verdict and the
same distinct-state count as an uninterrupted one.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cowlab.check.canon import canonical
from cowlab.check.checkpoint import Checkpointer
from cowlab.check.model import CheckModel, CheckState, Transition
from cowlab.check.por import ample
from cowlab.check.result import Limits, SearchResult, Stats, Stopper

Progress = Callable[[Stats, int], None]


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Searches allocate millions of acyclic tuples; the cyclic collector would scan the
    whole growing heap again and again for nothing (a third of the run time, measured
    with benchmarks/bench_check.py).  Reference counting still frees everything."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Memory:
    """Everything a search knows; what a checkpoint holds."""

    strategy: str
    visited: dict[object, int] = field(default_factory=dict)
    parent: list[int] = field(default_factory=list)
    via: list[Transition | None] = field(default_factory=list)
    frontier: deque[tuple[CheckState, int, int]] = field(default_factory=deque)
    stats: Stats = field(default_factory=Stats)


def trace_to(mem: Memory, index: int) -> list[Transition]:
    out: list[Transition] = []
    while index > 0:
        t = mem.via[index]
        assert t is not None
        out.append(t)
        index = mem.parent[index]
    out.reverse()
    return out


def new_memory(model: CheckModel, strategy: str) -> Memory:
    mem = Memory(strategy)
    init = model.initial()
    mem.visited[canonical(init, model.symmetry)] = 0
    mem.parent.append(-1)
    mem.via.append(None)
    mem.frontier.append((init, 0, 0))
    mem.stats.distinct = 1
    return mem


def explore(
    model: CheckModel,
    limits: Limits,
    mem: Memory,
    *,
    reduce: bool = False,
    checkpointer: Checkpointer | None = None,
    progress: Progress | None = None,
    stopper: Stopper | None = None,
) -> SearchResult:
    """Run BFS (``mem.strategy == "bfs"``) or DFS from ``mem`` until a violation, the
    end of the state space, or a limit."""
    mem.stats.resume_clock()
    stop = stopper or Stopper(limits, mem.stats)
    take = mem.frontier.popleft if mem.strategy == "bfs" else mem.frontier.pop
    with no_cyclic_gc():
        return _loop(model, limits, mem, reduce, checkpointer, progress, stop, take)


def _loop(model: CheckModel, limits: Limits, mem: Memory, reduce: bool,
          checkpointer: Checkpointer | None, progress: Progress | None, stop: Stopper,
          take: Callable[[], tuple[CheckState, int, int]]) -> SearchResult:
    stats = mem.stats
    frontier = mem.frontier
    visited = mem.visited
    current: tuple[CheckState, int, int] | None = None
    try:
        while frontier:
            reason = stop.poll(mem, len(frontier), checkpointer, progress)
            if reason:
                return _stopped(mem, reason, checkpointer)
            current = take()
            state, index, depth = current
            if depth >= limits.max_depth:
                stats.depth_cut += 1
                current = None
                continue
            successors = _expand(model, state, reduce, visited)
            stats.transitions += len(successors)
            for t, nxt, found in successors:
                if found:
                    trace = [*trace_to(mem, index), t]
                    return SearchResult("violation", stats, trace=trace, violations=found)
                key = canonical(nxt, model.symmetry)
                if key in visited:
                    continue
                visited[key] = len(mem.parent)
                mem.parent.append(index)
                mem.via.append(t)
                stats.distinct += 1
                bug = model.sanity_of(nxt)
                if bug:
                    trace = [*trace_to(mem, index), t]
                    return SearchResult("violation", stats, trace=trace, violations=bug)
                if depth + 1 > stats.max_depth:
                    stats.max_depth = depth + 1
                frontier.append((nxt, len(mem.parent) - 1, depth + 1))
            current = None
    except KeyboardInterrupt:
        if current is not None:  # expand it again on resume: its new successors are known
            (frontier.appendleft if mem.strategy == "bfs" else frontier.append)(current)
        return _stopped(mem, "interrupted", checkpointer)
    if checkpointer is not None:
        checkpointer.save(mem)
    reason = f"max-depth {limits.max_depth}" if stats.depth_cut else ""
    return SearchResult("complete", stats, reason=reason)


def _expand(model: CheckModel, state: CheckState, reduce: bool, visited: Container[object]
            ) -> list[tuple[Transition, CheckState, list]]:
    transitions = model.transitions(state)
    stats_out = []
    if reduce:
        chosen = ample(model, state, transitions)
        if chosen is not None:
            succ = [(t, *model.step(state, t)[:2]) for t in chosen]
            # cycle proviso: an ample set that only closes back on known states is
            # replaced by the full expansion
            if any(f or canonical(s, model.symmetry) not in visited for _, s, f in succ):
                model.stats_reduced += len(transitions) - len(chosen)
                return succ
    for t in transitions:
        nxt, found, _ = model.step(state, t)
        stats_out.append((t, nxt, found))
    return stats_out


def _stopped(mem: Memory, reason: str, checkpointer: Checkpointer | None) -> SearchResult:
    if checkpointer is not None:
        checkpointer.save(mem)
    return SearchResult("limit", mem.stats, reason=reason)
