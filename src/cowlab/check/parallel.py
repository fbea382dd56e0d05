"""Parallel breadth-first search on one machine, level by level.

Every worker expands its own share of a level.  Who owns a successor's *key* is fixed
by the key's hash.  Workers first send the owner the 64-bit hashes of successors they
found; it answers which are new (first claim wins); only those states are then
pickled, in one batch per owner, and shipped to the owner, which expands them in the
next level.  So a state crosses a process boundary at most once, and duplicates
(three out of four transitions) cost eight bytes.

Deduplication and ownership are by the 64-bit fingerprint of the canonical key (the
single-process search's, ``keyhash.fingerprint64``), the same in every process and
every run whatever the hash seed: two distinct states with equal fingerprints would be
merged (for a million states the chance is about 3e-8).
Levels keep BFS order, so a violation found at level d is still a shortest one.
Workers are forked: they share the model.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import pickle
import resource
import signal
from multiprocessing.connection import Connection

from cowlab.check.canon import canonical
from cowlab.check.keyhash import fingerprint64
from cowlab.check.model import CheckModel, CheckState, Transition
from cowlab.check.result import Limits, SearchResult, Stats, current_rss_mb, peak_rss_mb
from cowlab.check.search import Progress, _expand

ROOT = (-1, -1)


class _Worker:
    def __init__(self, model: CheckModel, wid: int, n: int, reduce: bool) -> None:
        self.model = model
        self.wid = wid
        self.n = n
        self.reduce = reduce
        #: hashes of the keys this worker owns that some worker has claimed
        self.claimed: set[int] = set()
        #: per state this worker expands: (owner, index) of its parent and the transition
        self.parent: list[tuple[int, int]] = []
        self.via: list[Transition | None] = []
        self.frontier: list[tuple[CheckState, int]] = []
        #: successors owned elsewhere, waiting for the owner's answer
        self.pending: list[tuple[int, CheckState, tuple[int, int], Transition]] = []
        self.asked: set[int] = set()

    def __contains__(self, key: object) -> bool:
        """For the reduction's cycle proviso: is this key known?  Keys owned by another
        worker count as known, which only makes the reduction fall back more often."""
        h = fingerprint64(key)
        return h % self.n != self.wid or h in self.claimed

    def keep(self, state: CheckState, parent: tuple[int, int], t: Transition | None) -> int:
        self.parent.append(parent)
        self.via.append(t)
        self.frontier.append((state, len(self.parent) - 1))
        return len(self.parent) - 1

    def expand(self) -> tuple[object, list[list[int]], int, int]:
        """One level: (violation or None, hashes to ask each owner, transitions, new)."""
        asks: list[list[int]] = [[] for _ in range(self.n)]
        frontier, self.frontier = self.frontier, []
        self.pending = []
        transitions = new = 0
        model = self.model
        for state, index in frontier:
            successors = _expand(model, state, self.reduce, self)
            transitions += len(successors)
            for t, nxt, found in successors:
                if found:
                    return ((self.wid, index, t, found), asks, transitions, new)
                h = fingerprint64(canonical(nxt, model.symmetry))
                owner = h % self.n
                if owner == self.wid:
                    if h in self.claimed:
                        continue
                    self.claimed.add(h)
                    bug = model.sanity_of(nxt)
                    if bug:
                        return ((self.wid, index, t, bug), asks, transitions, new)
                    self.keep(nxt, (self.wid, index), t)
                    new += 1
                elif h not in self.asked:
                    self.asked.add(h)
                    asks[owner].append(h)
                    self.pending.append((h, nxt, (self.wid, index), t))
        return (None, asks, transitions, new)

    def arbitrate(self, asks: list[list[int]]) -> list[list[bool]]:
        """Answer each worker's hashes (in worker order): True where it claimed first."""
        answers = []
        for hashes in asks:
            row = []
            for h in hashes:
                fresh = h not in self.claimed
                if fresh:
                    self.claimed.add(h)
                row.append(fresh)
            answers.append(row)
        return answers

    def accept(self, answers: list[list[bool]]) -> tuple[object, int, list[bytes]]:
        """The pending successors the owners granted (answers per owner, in the order
        asked), checked and pickled in one batch per owner."""
        cursor = [0] * self.n
        boxes: list[list[tuple[CheckState, tuple[int, int], Transition]]] = [[] for _ in range(self.n)]
        new = 0
        for h, nxt, parent, t in self.pending:
            owner = h % self.n
            granted = answers[owner][cursor[owner]]
            cursor[owner] += 1
            if granted:
                bug = self.model.sanity_of(nxt)
                if bug:
                    return ((self.wid, parent[1], t, bug), new, [b""] * self.n)
                boxes[owner].append((nxt, parent, t))
                new += 1
        self.pending = []
        batches = [pickle.dumps(box, protocol=pickle.HIGHEST_PROTOCOL) if box else b"" for box in boxes]
        return (None, new, batches)

    def receive(self, batches: list[bytes]) -> int:
        for batch in batches:
            if batch:
                for state, parent, t in pickle.loads(batch):
                    self.keep(state, parent, t)
        return len(self.frontier)


def _serve(conn: Connection, model: CheckModel, wid: int, n: int, reduce: bool) -> None:
    # the parent answers a Ctrl-C (sent to the whole process group) and stops the
    # workers by message; SIGTERM (terminate()) ends a worker at once, without a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.disable()  # see search.no_cyclic_gc
    worker = _Worker(model, wid, n, reduce)
    while True:
        msg = conn.recv()
        op = msg[0]
        if op == "seed":
            state = model.initial()
            worker.claimed.add(fingerprint64(canonical(state, model.symmetry)))
            worker.keep(state, ROOT, None)
            conn.send(True)
        elif op == "expand":
            conn.send(worker.expand())
        elif op == "arbitrate":
            conn.send(worker.arbitrate(msg[1]))
        elif op == "accept":
            conn.send(worker.accept(msg[1]))
        elif op == "receive":
            conn.send(worker.receive(msg[1]))
        elif op == "parent":
            index = msg[1]
            conn.send((worker.parent[index], worker.via[index]))
        elif op == "rss":
            conn.send(current_rss_mb())
        elif op == "peak":
            conn.send(peak_rss_mb())
        elif op == "stop":
            conn.close()
            return


def parallel_bfs(
    model: CheckModel, limits: Limits, workers: int, *, reduce: bool = True, progress: Progress | None = None
) -> SearchResult:
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
    result = SearchResult("limit", stats, reason="interrupted")
    interrupted = True
    try:
        result = _levels(model, limits, conns, stats, progress)
        interrupted = False
    except KeyboardInterrupt:
        pass
    finally:
        if not interrupted:  # the pipes are in step: each worker answers for itself
            result.workers_peak_mb = _workers_peak(conns)
        for conn in conns:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("stop",))
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        if interrupted:  # the largest worker's peak, from the kernel's accounting
            result.workers_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def _workers_peak(conns: list[Connection]) -> float:
    """The sum of the workers' peak memory (each process's own high-water mark)."""
    total = 0.0
    for conn in conns:
        with contextlib.suppress(BrokenPipeError, EOFError, OSError):
            conn.send(("peak",))
            total += conn.recv()
    return total


def _levels(
    model: CheckModel, limits: Limits, conns: list[Connection], stats: Stats, progress: Progress | None
) -> SearchResult:
    workers = len(conns)
    first = fingerprint64(canonical(model.initial(), model.symmetry)) % workers
    conns[first].send(("seed",))
    conns[first].recv()
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
            return _violation(conns, found, stats, depth)
        # owner o answers the hashes every worker w asked of it
        for owner, conn in enumerate(conns):
            conn.send(("arbitrate", [r[1][owner] for r in replies]))
        answers = [conn.recv() for conn in conns]  # answers[owner][asker]
        for asker, conn in enumerate(conns):
            conn.send(("accept", [answers[owner][asker] for owner in range(workers)]))
        accepted = [conn.recv() for conn in conns]
        stats.distinct += sum(a[1] for a in accepted)
        found = [a[0] for a in accepted if a[0] is not None]
        if found:
            return _violation(conns, found, stats, depth)
        for owner, conn in enumerate(conns):
            conn.send(("receive", [a[2][owner] for a in accepted]))
        frontier = sum(conn.recv() for conn in conns)
        depth += 1
        if frontier:
            stats.max_depth = depth
        if progress is not None:
            progress(stats, frontier)
    return SearchResult("complete", stats)


def _violation(conns: list[Connection], found: list, stats: Stats, depth: int) -> SearchResult:
    """The violations found in one level are equally short: report the one whose trace
    comes first in a fixed order of transitions, not the one whose worker answered first."""
    traces = [([*_trace(conns, wid, index), t], violations) for wid, index, t, violations in found]
    trace, violations = min(traces, key=lambda tv: [tuple(map(repr, t)) for t in tv[0]])
    stats.max_depth = depth + 1
    return SearchResult("violation", stats, trace=trace, violations=violations)


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
