"""Parallel breadth-first search on one machine: the visited set is partitioned by
key hash among worker processes, explored level by level.

Each worker expands its share of a level, keeps successors it owns, and ships the
others (deduplicated against what it already sent) to their owners through the
master, which only forwards bytes.  Levels keep BFS order, so a violation found at
level d is still a shortest one.  Workers are forked, so they share the model and
the string hash seed (keys hash alike in every worker).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import pickle
from multiprocessing.connection import Connection

from cowlab.check.canon import canonical
from cowlab.check.model import CheckModel, CheckState, Transition
from cowlab.check.result import Limits, SearchResult, Stats, current_rss_mb
from cowlab.check.search import Progress, _expand

ROOT = (-1, -1)


class _Worker:
    def __init__(self, model: CheckModel, wid: int, n: int, reduce: bool) -> None:
        self.model = model
        self.wid = wid
        self.n = n
        self.reduce = reduce
        self.visited: dict[object, int] = {}
        #: per local state: (owner, index) of its parent, and the transition from it
        self.parent: list[tuple[int, int]] = []
        self.via: list[Transition | None] = []
        self.frontier: list[tuple[CheckState, int]] = []
        self.sent: set[object] = set()

    def add(self, key: object, state: CheckState, parent: tuple[int, int], t: Transition | None
            ) -> bool:
        if key in self.visited:
            return False
        self.visited[key] = len(self.parent)
        self.parent.append(parent)
        self.via.append(t)
        self.frontier.append((state, len(self.parent) - 1))
        return True

    def expand(self) -> tuple[object, list[bytes], int, int]:
        """One level: (violation or None, outgoing batches per worker, transitions, new)."""
        outboxes: list[list[tuple[object, CheckState, tuple[int, int], Transition]]] = [
            [] for _ in range(self.n)]
        frontier, self.frontier = self.frontier, []
        transitions = new = 0
        for state, index in frontier:
            successors = _expand(self.model, state, self.reduce, self.visited)
            transitions += len(successors)
            for t, nxt, found in successors:
                if found:
                    return ((self.wid, index, t, found), [b""] * self.n, transitions, new)
                key = canonical(nxt)
                owner = hash(key) % self.n
                if owner == self.wid:
                    if self.add(key, nxt, (self.wid, index), t):
                        new += 1
                        bug = self.model.sanity_of(nxt)
                        if bug:
                            return ((self.wid, index, t, bug), [b""] * self.n, transitions, new)
                elif key not in self.sent:
                    self.sent.add(key)
                    bug = self.model.sanity_of(nxt)
                    if bug:
                        return ((self.wid, index, t, bug), [b""] * self.n, transitions, new)
                    outboxes[owner].append((key, nxt, (self.wid, index), t))
        batches = [pickle.dumps(box, protocol=pickle.HIGHEST_PROTOCOL) if box else b""
                   for box in outboxes]
        return (None, batches, transitions, new)

    def receive(self, batches: list[bytes]) -> int:
        new = 0
        for batch in batches:
            if batch:
                for key, state, parent, t in pickle.loads(batch):
                    new += self.add(key, state, parent, t)  # sanity: checked by the sender
        return new


def _serve(conn: Connection, model: CheckModel, wid: int, n: int, reduce: bool) -> None:
    worker = _Worker(model, wid, n, reduce)
    while True:
        msg = conn.recv()
        op = msg[0]
        if op == "seed":
            state = model.initial()
            key = canonical(state)
            conn.send(worker.add(key, state, ROOT, None))
        elif op == "expand":
            conn.send(worker.expand())
        elif op == "receive":
            conn.send((worker.receive(msg[1]), len(worker.frontier)))
        elif op == "parent":
            index = msg[1]
            conn.send((worker.parent[index], worker.via[index]))
        elif op == "rss":
            conn.send(current_rss_mb())
        elif op == "stop":
            conn.close()
            return


def parallel_bfs(model: CheckModel, limits: Limits, workers: int, *, reduce: bool = True,
                 progress: Progress | None = None) -> SearchResult:
    ctx = mp.get_context("fork")
    conns: list[Connection] = []
    procs = []
    for wid in range(workers):
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(there, model, wid, workers, reduce), daemon=True)
        proc.start()
        conns.append(here)
        procs.append(proc)
    stats = Stats()
    try:
        owner = hash(canonical(model.initial())) % workers
        conns[owner].send(("seed",))
        conns[owner].recv()
        stats.distinct = 1
        frontier = 1
        depth = 0
        while frontier:
            reason = _limit(limits, stats, depth, conns)
            if reason:
                return SearchResult("limit", stats, reason=reason)
            for conn in conns:
                conn.send(("expand",))
            replies = [conn.recv() for conn in conns]
            stats.transitions += sum(r[2] for r in replies)
            stats.distinct += sum(r[3] for r in replies)
            found = [r[0] for r in replies if r[0] is not None]
            if found:
                wid, index, t, violations = min(found, key=lambda f: f[0])
                trace = [*_trace(conns, wid, index), t]
                stats.max_depth = depth + 1
                return SearchResult("violation", stats, trace=trace, violations=violations)
            for dest, conn in enumerate(conns):
                conn.send(("receive", [r[1][dest] for r in replies]))
            received = [conn.recv() for conn in conns]
            stats.distinct += sum(r[0] for r in received)
            frontier = sum(r[1] for r in received)
            depth += 1
            if frontier:
                stats.max_depth = depth
            if progress is not None:
                progress(stats, frontier)
        return SearchResult("complete", stats)
    except KeyboardInterrupt:
        return SearchResult("limit", stats, reason="interrupted")
    finally:
        for conn in conns:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("stop",))
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def _trace(conns: list[Connection], wid: int, index: int) -> list[Transition]:
    out: list[Transition] = []
    while True:
        conns[wid].send(("parent", index))
        (pw, pi), t = conns[wid].recv()
        if t is None:
            break
        out.append(t)
        wid, index = pw, pi
    out.reverse()
    return out


def _limit(limits: Limits, stats: Stats, depth: int, conns: list[Connection]) -> str:
    if depth >= limits.max_depth:
        return f"max-depth {limits.max_depth}"
    if stats.distinct >= limits.max_states:
        return f"max-states {limits.max_states}"
    if limits.time_limit is not None and stats.seconds >= limits.time_limit:
        return f"time-limit {limits.time_limit:g}s"
    if limits.memory_limit_mb is not None:
        total = current_rss_mb()
        for conn in conns:
            conn.send(("rss",))
            total += conn.recv()
        if total >= limits.memory_limit_mb:
            return f"memory-limit {limits.memory_limit_mb} MB"
    return ""
