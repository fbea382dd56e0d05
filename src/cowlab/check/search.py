"""Exhaustive search over the check model, breadth-first (shortest counterexample) or
depth-first, resumable from a checkpoint.

Visited states are remembered as 64-bit fingerprints of their canonical keys (hash
compaction, as SPIN and TLC do: see ``fingerprints``), and how each was first reached
as a parent index and a transition number (``trace_links``); only the frontier holds
whole states.  The search's whole memory is written atomically every
``checkpoint_every`` seconds and when a limit or Ctrl-C stops the run, so a resumed run
ends with the same verdict and the same distinct-state count as an uninterrupted one.
"""

from __future__ import annotations

import gc
import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from cowlab.check.canon import canonical
from cowlab.check.checkpoint import Checkpointer, Section, SectionReader
from cowlab.check.fingerprints import FingerprintSet
from cowlab.check.frontier import Frontier
from cowlab.check.frontier_codec import FrontierWriter, decode_frontier
from cowlab.check.keyhash import fingerprint64, fingerprint128
from cowlab.check.model import CheckModel, CheckState, Transition
from cowlab.check.por import ample
from cowlab.check.result import Limits, SearchResult, Stats, Stopper
from cowlab.check.trace_links import ROOT, TraceLinks

try:
    import cython
except ModuleNotFoundError:  # interpreted without Cython installed
    from cowlab.check import _cython_shim as cython  # type: ignore[no-redef]

#: True when this module runs as a compiled extension (setup.py compiles it)
COMPILED: bool = cython.compiled

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
    #: fingerprints of the canonical keys of every stored state
    visited: FingerprintSet = field(default_factory=FingerprintSet)
    #: per stored state (by index): parent index and transition number
    links: TraceLinks = field(default_factory=TraceLinks)
    #: (packed state, its index, its depth) still to expand: a Frontier (bounded memory,
    #: spills to disk) for BFS, a deque (a stack) for DFS
    frontier: Frontier | deque[tuple[object, int, int]] = field(default_factory=deque)
    stats: Stats = field(default_factory=Stats)
    #: BFS: the depth being expanded, and the fingerprints of the states first reached
    #: one deeper while expanding it (the level proviso: cowlab/check/por.py)
    level: int = 0
    next_level: FingerprintSet = field(default_factory=FingerprintSet)

    @property
    def fingerprint_bits(self) -> int:
        return self.visited.bits

    def store_root(self, fp: int) -> int:
        """Remember the initial state (depth 0, no parent): its index."""
        self.visited.add(fp)
        self.stats.distinct += 1
        return self.links.add(ROOT, 0)

    def store(self, fp: int, parent: int, number: int) -> int:
        """Remember a state first reached from ``parent`` by transition ``number`` (one
        level deeper, breadth-first): its index, or -1 if it is known already."""
        if not self.visited.add(fp):
            return -1
        if self.strategy == "bfs":
            self.next_level.add(fp)
        self.stats.distinct += 1
        return self.links.add(parent, number)

    def start_level(self, depth: int) -> None:
        """Breadth-first, the expansion of ``depth`` begins: nothing is one level deeper
        yet."""
        self.level = depth
        self.next_level = FingerprintSet(self.visited.bits)

    def deeper(self, fp: int) -> bool:
        """The level proviso's question: not among the states of the current depth or
        less (new, or first reached one level deeper while this level is expanded)."""
        return fp not in self.visited or fp in self.next_level

    def checkpoint_sections(self) -> list[Section]:
        """The fingerprint table and the trace links as raw arrays, the frontier as
        binary entries streamed in chunks and the JSON of what they share, the rest as
        JSON: nothing that runs code on load, and no copy of the frontier in memory."""
        frontier = FrontierWriter(self.frontier)
        search = json.dumps({"strategy": self.strategy, "stats": self.stats.to_plain(), "level": self.level})
        return [
            ("fingerprints", self.visited.to_chunks()),
            ("next-level", self.next_level.to_chunks()),
            ("links", self.links.to_chunks()),
            ("frontier", frontier.entries()),
            ("frontier-objects", frontier.objects()),
            ("search", search.encode()),
        ]

    @classmethod
    def from_checkpoint_sections(cls, sections: Mapping[str, SectionReader]) -> Memory:
        search = json.loads(sections["search"].read())
        strategy = search["strategy"]
        if strategy not in ("bfs", "dfs"):
            raise ValueError(f"unknown strategy {strategy!r}")
        stats = Stats.from_plain(search["stats"])
        level = search["level"]
        if type(level) is not int or level < 0:
            raise ValueError(f"level {level!r} is not a depth")
        visited = FingerprintSet.from_reader(sections["fingerprints"].read)
        next_level = FingerprintSet.from_reader(sections["next-level"].read)
        links = TraceLinks.from_reader(sections["links"].read)
        # entries stream from the file into the frontier, which spills as it fills
        entries = decode_frontier(sections["frontier"].chunks(), sections["frontier-objects"].read())
        frontier = Frontier(entries) if strategy == "bfs" else deque(entries)
        return cls(strategy, visited, links, frontier, stats, level, next_level)


def fingerprint_of(state: CheckState, model: CheckModel, bits: int = 64) -> int:
    """The fingerprint under which ``state`` is remembered: that of its canonical key."""
    key = canonical(state, model.symmetry)
    return fingerprint64(key) if bits == 64 else fingerprint128(key)


def trace_to(model: CheckModel, mem: Memory, index: int) -> list[Transition]:
    """The transitions from the initial state to stored state ``index``, found again by
    stepping forward along the numbered transitions of its trace links."""
    return transitions_along(model, mem.links.path(index))


def transitions_along(model: CheckModel, numbers: list[int]) -> list[Transition]:
    """The transitions numbered ``numbers`` (each an index into ``model.transitions`` of
    the state reached so far), taken one after another from the initial state."""
    out: list[Transition] = []
    state = model.initial()
    for number in numbers:
        t = model.transitions(state)[number]
        out.append(t)
        state = model.step(state, t)[0]
    return out


def new_memory(model: CheckModel, strategy: str, fingerprint_bits: int = 64) -> Memory:
    frontier = Frontier() if strategy == "bfs" else deque()
    mem = Memory(strategy, FingerprintSet(fingerprint_bits), frontier=frontier)
    mem.start_level(0)
    init = model.initial()
    mem.frontier.append((model.pack(init), mem.store_root(fingerprint_of(init, model, fingerprint_bits)), 0))
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


def _loop(
    model: CheckModel,
    limits: Limits,
    mem: Memory,
    reduce: bool,
    checkpointer: Checkpointer | None,
    progress: Progress | None,
    stop: Stopper,
    take: Callable[[], tuple[CheckState, int, int]],
) -> SearchResult:
    stats = mem.stats
    frontier = mem.frontier
    visited = mem.visited
    symmetry = model.symmetry
    fingerprint = fingerprint64 if visited.bits == 64 else fingerprint128

    bfs = mem.strategy == "bfs"

    def is_new(state: CheckState) -> bool:
        """The cycle proviso's question.  BFS asks the level proviso's (not among the
        states of the current depth or less: the same answer in whatever order the
        level is expanded, by one process or many); DFS whether it is unvisited."""
        fp = fingerprint(canonical(state, symmetry))
        return mem.deeper(fp) if bfs else fp not in visited

    current: tuple[CheckState, int, int] | None = None
    try:
        while frontier:
            reason = stop.poll(mem, len(frontier), checkpointer, progress)
            if reason:
                return _stopped(mem, reason, checkpointer)
            current = take()
            packed, index, depth = current
            if bfs and depth != mem.level:  # the first state of the next level
                mem.start_level(depth)
            state = model.unpack(packed)
            if depth >= limits.max_depth:
                stats.depth_cut += 1
                current = None
                continue
            successors = numbered_successors(model, state, reduce, is_new)
            stats.transitions += len(successors)
            for number, t, nxt, found in successors:
                if found:
                    trace = [*trace_to(model, mem, index), t]
                    return SearchResult("violation", stats, trace=trace, violations=found)
                stored = mem.store(fingerprint(canonical(nxt, symmetry)), index, number)
                if stored < 0:
                    continue
                bug = model.sanity_of(nxt)
                if bug:
                    trace = [*trace_to(model, mem, index), t]
                    return SearchResult("violation", stats, trace=trace, violations=bug)
                if depth + 1 > stats.max_depth:
                    stats.max_depth = depth + 1
                frontier.append((model.pack(nxt), stored, depth + 1))
            current = None
    except KeyboardInterrupt:
        if current is not None:  # expand it again on resume: its new successors are known
            (frontier.appendleft if mem.strategy == "bfs" else frontier.append)(current)
        return _stopped(mem, "interrupted", checkpointer)
    if checkpointer is not None:
        checkpointer.save(mem)
    reason = f"max-depth {limits.max_depth}" if stats.depth_cut else ""
    return SearchResult("complete", stats, reason=reason)


#: (transition number, transition, successor, violations the step broke)
Successor = tuple[int, Transition, CheckState, list]


def numbered_successors(
    model: CheckModel, state: CheckState, reduce: bool, is_new: Callable[[CheckState], bool]
) -> list[Successor]:
    """(transition number, transition, successor, violations) for the transitions the
    search expands at ``state``: all of them, or an ample set under ``reduce``.  The
    number is the transition's index in the full ``model.transitions(state)``."""
    transitions = model.transitions(state)
    if reduce:
        succ = ample_successors(model, state, transitions)
        # cycle proviso: an ample set that only closes back on known states is
        # replaced by the full expansion
        if succ is not None and any(f or is_new(s) for _, _, s, f in succ):
            model.stats_reduced += len(transitions) - len(succ)
            return succ
    return all_successors(model, state, transitions)


def ample_successors(
    model: CheckModel, state: CheckState, transitions: list[Transition]
) -> list[Successor] | None:
    """The numbered successors through the ample set at ``state``, if it has one (the
    caller applies the cycle proviso)."""
    chosen = ample(model, state, transitions)
    if chosen is None:
        return None
    number = {id(t): i for i, t in enumerate(transitions)}
    return [(number[id(t)], t, *model.step(state, t)[:2]) for t in chosen]


def all_successors(model: CheckModel, state: CheckState, transitions: list[Transition]) -> list[Successor]:
    out = []
    for i, t in enumerate(transitions):
        nxt, found, _ = model.step(state, t)
        out.append((i, t, nxt, found))
    return out


def _stopped(mem: Memory, reason: str, checkpointer: Checkpointer | None) -> SearchResult:
    if checkpointer is not None:
        checkpointer.save(mem)
    return SearchResult("limit", mem.stats, reason=reason)
