"""One worker's share of a parallel breadth-first search: the states whose fingerprint
it owns, expanded one level at a time.

The parallel engines (``--workers N`` over processes on one machine, ``--engine ray``
over a Ray cluster) differ only in how they carry messages; each worker holds one
``Partition`` and the level loop (``levels``) drives them all.  A partition keeps what
the single-process search keeps (``search.Memory``): fingerprints of the states it
owns, their trace links and its part of the frontier as packed states.

A level is two steps.  ``expand_level`` expands every state of the level, keeps the
successors the partition owns itself, and packs the others into one batch per owner
(each fingerprint once); ``receive`` takes the batches addressed to it, in worker
order, and keeps those it has not seen.  So the answer depends on the number of
workers, never on timing, and every level is complete before the next begins: the
first violation found is at the least depth, a shortest counterexample.

A state's trace link names its parent by a global number, ``index * workers +
worker``, so a counterexample is walked back across partitions.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cowlab.check.canon import canonical
from cowlab.check.checkpoint import Checkpointer, CheckpointError, load_checkpoint
from cowlab.check.fingerprints import FingerprintSet
from cowlab.check.frontier import Frontier
from cowlab.check.keyhash import fingerprint64, fingerprint128
from cowlab.check.model import CheckModel, CheckState, Packed
from cowlab.check.result import Stats, current_rss_mb, peak_rss_mb
from cowlab.check.search import Memory, numbered_successors
from cowlab.check.trace_links import ROOT, TraceLinks
from cowlab.invariants import Violation
from cowlab.model.layout import Layout

#: a batch's entry: fingerprint, parent's global number, transition number, the state
Incoming = tuple[int, int, int, Packed]


@dataclass(frozen=True)
class Found:
    """A violation: the transition ``number`` taken from the state ``parent`` (global
    number) breaks ``violations``, or reaches a state that fails the sanity checks."""

    parent: int
    number: int
    violations: list[Violation]


@dataclass
class LevelReport:
    """What one partition did in one level (the batches travel separately)."""

    transitions: int = 0
    new: int = 0
    reduced: int = 0
    found: list[Found] = field(default_factory=list)
    #: bytes of the batches sent to other workers
    sent: int = 0
    #: states waiting for the next level (after ``receive``)
    frontier: int = 0


def owner_of(fingerprint: int, workers: int) -> int:
    """The worker that owns a fingerprint.  From its high bits: the visited set's table
    is indexed by the low ones, which would otherwise all be equal in one partition."""
    return (fingerprint >> 32) % workers


class Partition:
    def __init__(self, model: CheckModel, worker: int, workers: int, *, reduce: bool, bits: int = 64) -> None:
        self.model = model
        self.worker = worker
        self.workers = workers
        self.reduce = reduce
        self.mem = Memory("bfs", FingerprintSet(bits), TraceLinks(), Frontier(), Stats())
        self.fingerprint = fingerprint64 if bits == 64 else fingerprint128
        #: depth of the states in the frontier
        self.depth = 0

    def global_number(self, index: int) -> int:
        return index * self.workers + self.worker

    def fingerprint_of(self, state: CheckState) -> int:
        return self.fingerprint(canonical(state, self.model.symmetry))

    def owns(self, fingerprint: int) -> bool:
        return owner_of(fingerprint, self.workers) == self.worker

    def seed(self) -> int:
        """Store the initial state if this partition owns it: how many states it stored."""
        state = self.model.initial()
        fp = self.fingerprint_of(state)
        if not self.owns(fp):
            return 0
        self.mem.visited.add(fp)
        self.mem.frontier.append((self.model.pack(state), self.mem.links.add(ROOT, 0), 0))
        return 1

    def _is_new(self, state: CheckState) -> bool:
        """For the reduction's cycle proviso.  A state another worker owns counts as
        known: that only makes the reduction fall back to a full expansion more often."""
        fp = self.fingerprint_of(state)
        return self.owns(fp) and fp not in self.mem.visited

    def expand_level(self) -> tuple[LevelReport, list[bytes]]:
        """Expand every state of the current level: the report, and one pickled batch of
        ``Incoming`` entries per worker (empty for this one).  Stops at the first
        violation: the level's others are as short."""
        model, mem = self.model, self.mem
        report = LevelReport()
        outboxes: list[dict[int, Incoming]] = [{} for _ in range(self.workers)]
        reduced_before = model.stats_reduced
        for _ in range(len(mem.frontier)):
            packed, index, _depth = mem.frontier.popleft()
            parent = self.global_number(index)
            successors = numbered_successors(model, model.unpack(packed), self.reduce, self._is_new)  # type: ignore[arg-type]
            report.transitions += len(successors)
            for number, _t, nxt, found in successors:
                if found:
                    report.found.append(Found(parent, number, found))
                    return self._sealed(report, outboxes, reduced_before)
                fp = self.fingerprint_of(nxt)
                owner = owner_of(fp, self.workers)
                if owner != self.worker:
                    outboxes[owner].setdefault(fp, (fp, parent, number, model.pack(nxt)))
                elif self._keep(fp, parent, number, report, state=nxt):
                    return self._sealed(report, outboxes, reduced_before)
        return self._sealed(report, outboxes, reduced_before)

    def _keep(
        self,
        fp: int,
        parent: int,
        number: int,
        report: LevelReport,
        *,
        state: CheckState | None = None,
        packed: Packed | None = None,
    ) -> bool:
        """Store a successor this partition owns (given as a state or packed) if it is
        new; True if it fails the sanity checks.  Packs or unpacks only a new one."""
        mem, model = self.mem, self.model
        if not mem.visited.add(fp):
            return False
        stored = mem.links.add(parent, number)  # the parent's global number
        report.new += 1
        if model.sanity:
            bug = model.sanity_of(state if state is not None else model.unpack(packed))  # type: ignore[arg-type]
            if bug:
                report.found.append(Found(parent, number, bug))
                return True
        mem.frontier.append((packed if packed is not None else model.pack(state), stored, self.depth + 1))  # type: ignore[arg-type]
        return False

    def _sealed(
        self, report: LevelReport, outboxes: list[dict[int, Incoming]], reduced_before: int
    ) -> tuple[LevelReport, list[bytes]]:
        report.reduced = self.model.stats_reduced - reduced_before
        batches = [
            pickle.dumps(list(box.values()), protocol=pickle.HIGHEST_PROTOCOL) if box else b""
            for box in outboxes
        ]
        report.sent = sum(map(len, batches))
        self.mem.stats.transitions += report.transitions
        self.mem.stats.distinct += report.new
        return report, batches

    def receive(self, batches: list[bytes]) -> LevelReport:
        """Keep the new states among those other workers found, batches in worker order
        (so the first claim in that order wins, whatever the timing)."""
        report = LevelReport()
        model = self.model
        share = model.share
        for batch in batches:
            if not batch:
                continue
            #: the sender's layouts (one object each in a batch) -> this worker's equal one
            layouts: dict[int, Layout] = {}
            entry: Incoming
            for entry in pickle.loads(batch):
                fp, parent, number, packed = entry
                if fp in self.mem.visited:
                    continue
                layout = layouts.get(id(packed.layout))
                if layout is None:
                    layout = layouts[id(packed.layout)] = share(packed.layout)
                    layout.symbols.learn(packed.layout.symbols)
                packed = Packed(
                    packed.vector, layout, share(packed.spec), share(packed.pcs), share(packed.budgets)
                )
                if self._keep(fp, parent, number, report, packed=packed):
                    self.mem.stats.distinct += report.new
                    return report
        self.mem.stats.distinct += report.new
        self.depth += 1
        report.frontier = len(self.mem.frontier)
        return report

    def link(self, index: int) -> tuple[int, int]:
        """The global number of a stored state's parent (ROOT for the initial state), and
        the number of the transition that reached it."""
        return self.mem.links.parent(index), self.mem.links.numbers[index]

    def memory_mb(self) -> tuple[float, float]:
        """(resident now, peak) of this worker's process."""
        return current_rss_mb(), peak_rss_mb()


def partition_file(directory: Path, worker: int) -> Path:
    return directory / f"partition-{worker}.ckpt"


def save_partition(partition: Partition, directory: Path, meta: dict[str, Any]) -> None:
    """Write the partition's memory as a checkpoint file of its own (at a barrier: its
    frontier holds the next level) into ``directory``, created if needed (on a cluster
    each node creates it on its own disk, or shares it)."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "worker": partition.worker}
    Checkpointer(partition_file(directory, partition.worker), meta).save(partition.mem)


def restore_partition(partition: Partition, directory: Path, meta: dict[str, Any]) -> None:
    """Replace the partition's memory with the one saved in ``directory``."""
    meta = {**meta, "worker": partition.worker}
    mem = load_checkpoint(partition_file(directory, partition.worker), meta)
    if not isinstance(mem, Memory) or mem.strategy != "bfs" or not isinstance(mem.frontier, Frontier):
        raise CheckpointError(f"{directory}: partition {partition.worker} is not a breadth-first search")
    partition.mem = mem
    partition.depth = meta["level"]
