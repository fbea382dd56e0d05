"""Breadth-first search: the first violation found lies at the smallest depth, so its
trace is a shortest counterexample."""

from __future__ import annotations

from collections import deque

from cowlab.check.canon import canonical
from cowlab.check.model import CheckModel, CheckState, Transition
from cowlab.check.result import Limits, SearchResult, Stats, Stopper


def trace_to(parent: list[int], via: list[Transition | None], index: int) -> list[Transition]:
    out: list[Transition] = []
    while index > 0:
        t = via[index]
        assert t is not None
        out.append(t)
        index = parent[index]
    out.reverse()
    return out


def bfs(model: CheckModel, limits: Limits, stopper: Stopper | None = None) -> SearchResult:
    stats = Stats()
    stop = stopper or Stopper(limits, stats)
    init = model.initial()
    visited: dict[object, int] = {canonical(init): 0}
    parent: list[int] = [-1]
    via: list[Transition | None] = [None]
    queue: deque[tuple[CheckState, int, int]] = deque([(init, 0, 0)])
    stats.distinct = 1
    while queue:
        reason = stop.check(len(queue))
        if reason:
            return SearchResult("limit", stats, reason=reason)
        state, index, depth = queue.popleft()
        if depth >= limits.max_depth:
            stats.depth_cut += 1
            continue
        for t in model.transitions(state):
            nxt, found, _ = model.step(state, t)
            stats.transitions += 1
            if found:
                trace = [*trace_to(parent, via, index), t]
                return SearchResult("violation", stats, trace=trace, violations=found)
            key = canonical(nxt)
            if key in visited:
                continue
            visited[key] = len(parent)
            parent.append(index)
            via.append(t)
            stats.distinct += 1
            stats.max_depth = max(stats.max_depth, depth + 1)
            queue.append((nxt, len(parent) - 1, depth + 1))
    return SearchResult("complete", stats)
