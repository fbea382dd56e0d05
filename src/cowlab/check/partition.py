"""One worker's share of a parallel breadth-first search: the states whose fingerprint
it owns, expanded one level at a time.

The parallel engines (``--workers N`` over processes on one machine, ``--engine ray``
over a Ray cluster) differ only in how they carry messages; each worker holds one
``Partition`` and the level loop (``levels``) drives them all.  A partition keeps what
the single-process search keeps (``search.Memory``): fingerprints of the states it
owns, their trace links and its part of the frontier as packed states.

A level is four steps.  ``expand_level`` expands every state of the level, keeps the
successors the partition owns itself and addresses the others to their owners; where
the partial-order reduction's level proviso needs to know about a successor another
worker owns (is it new or one level deeper?), the state waits and the question goes to
the owner (``answer``); ``settle`` expands the states that waited and packs one batch
of successors per owner (each fingerprint once); ``receive`` takes the batches
addressed to it, in worker order, and keeps those it has not seen.  The proviso's
answers do not depend on the order of expansion, so any number of workers stores the
states one process stores; every level is complete before the next begins, so the
first violation found is at the least depth, a shortest counterexample.

A state's trace link names its parent by a global number, ``index * workers +
worker``, so a counterexample is walked back across partitions.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cowlab.check.canon import canonical
from cowlab.check.checkpoint import Checkpointer, CheckpointError, load_checkpoint
from cowlab.check.fingerprints import FingerprintSet
from cowlab.check.frontier import Frontier
from cowlab.check.keyhash import fingerprint64, fingerprint128
from cowlab.check.model import CheckModel, CheckState, Packed
from cowlab.check.result import Stats, current_rss_mb, peak_rss_mb
from cowlab.check.search import Memory, Successor, all_successors, ample_successors
from cowlab.check.trace_links import TraceLinks
from cowlab.invariants import Violation
from cowlab.model.layout import Layout

#: a batch's entry: fingerprint, parent's global number, transition number, the state
Incoming = tuple[int, int, int, Packed]
#: entries pickled together in one chunk of a batch
CHUNK_ENTRIES = 4096
_LENGTH = struct.Struct("<I")

#: what travels from a sender to an owner in one level: the chunks of pickled
#: ``Incoming`` entries, or the path of the spool file that holds them ("" if none)
Batch = list[bytes] | str


class Outbox:
    """The successors one level addresses to one owner: each fingerprint once, pickled
    in chunks as they come (bytes, not objects, wait for the owner), and written to a
    spool file when the workers share a disk, so that a level's traffic is never held
    whole in a process's memory."""

    def __init__(self, bits: int, spool: Path | None) -> None:
        self.sent = FingerprintSet(bits)
        self.entries: list[Incoming] = []
        self.chunks: list[bytes] = []
        self.spool = spool
        self.nbytes = 0
        self._file: IO[bytes] | None = None

    def claim(self, fp: int) -> bool:
        """Is this the first time this level addresses ``fp`` to the owner?"""
        return bool(self.sent.add(fp))

    def put(self, entry: Incoming) -> None:
        self.entries.append(entry)
        if len(self.entries) >= CHUNK_ENTRIES:
            self._flush()

    def _flush(self) -> None:
        if not self.entries:
            return
        chunk = pickle.dumps(self.entries, protocol=pickle.HIGHEST_PROTOCOL)
        self.entries = []
        self.nbytes += len(chunk)
        if self.spool is None:
            self.chunks.append(chunk)
            return
        if self._file is None:
            self._file = open(self.spool, "wb")  # noqa: SIM115 (closed in finish)
        self._file.write(_LENGTH.pack(len(chunk)) + chunk)

    def finish(self) -> Batch:
        self._flush()
        if self.spool is None:
            return self.chunks
        if self._file is None:
            return ""
        self._file.close()
        return str(self.spool)


def batch_chunks(batch: Batch) -> Iterator[bytes]:
    """The chunks of a batch, one at a time (a spool file is removed once read)."""
    if isinstance(batch, list):
        yield from batch
        return
    if not batch:
        return
    with open(batch, "rb") as f:
        while header := f.read(_LENGTH.size):
            (size,) = _LENGTH.unpack(header)
            yield f.read(size)
    os.unlink(batch)


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
    def __init__(
        self,
        model: CheckModel,
        worker: int,
        workers: int,
        *,
        reduce: bool,
        bits: int = 64,
        spool: Path | None = None,
    ) -> None:
        self.model = model
        self.worker = worker
        self.workers = workers
        self.reduce = reduce
        #: a directory every worker reads, for batches (None: batches travel as bytes)
        self.spool = spool
        #: the search memory of this share (``mem.level``: the depth of its frontier)
        self.mem = Memory("bfs", FingerprintSet(bits), TraceLinks(), Frontier(), Stats())
        self.mem.start_level(0)
        self.fingerprint = fingerprint64 if bits == 64 else fingerprint128
        #: model.stats_reduced when the last report was made
        self._reduced = 0
        self._start_level()

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
        self.mem.frontier.append((self.model.pack(state), self.mem.store_root(fp), 0))
        return 1

    # --- one level: expand, answer, settle, receive ------------------------------------

    def expand_level(self) -> tuple[LevelReport, list[bytes]]:
        """Expand the states of the current level whose expansion this partition can
        decide alone: the report, and per worker the fingerprints to ask it about (the
        level proviso's question for ample successors it owns; ``answer``).  The others
        wait for ``settle``.  Stops at the first violation: the level's others are as
        short."""
        model, mem = self.model, self.mem
        self._start_level()
        report = LevelReport()
        queries: list[list[int]] = [[] for _ in range(self.workers)]
        for _ in range(len(mem.frontier)):
            packed, index, _depth = mem.frontier.popleft()
            state = model.unpack(packed)  # type: ignore[arg-type]
            transitions = model.transitions(state)
            successors = ample_successors(model, state, transitions) if self.reduce else None
            if successors is not None:
                asks = self._level_proviso(successors)
                if asks:  # settled once the owners have answered
                    self._waiting.append((packed, index))  # type: ignore[arg-type]
                    for owner, fp in asks:
                        queries[owner].append(fp)
                    continue
                if asks is None:  # no successor one level deeper: the full expansion
                    successors = None
                else:
                    model.stats_reduced += len(transitions) - len(successors)
            if successors is None:
                successors = all_successors(model, state, transitions)
            if self._take(index, successors, report):
                break
        report.sent = sum(9 * len(q) for q in queries)  # a fingerprint, and its answer
        return self._counted(report), [pickle.dumps(q, protocol=pickle.HIGHEST_PROTOCOL) for q in queries]

    def _start_level(self) -> None:
        self._outboxes = [
            Outbox(self.mem.visited.bits, self._spool_file(owner)) if owner != self.worker else None
            for owner in range(self.workers)
        ]
        #: states whose ample set waits for answers: (packed, index)
        self._waiting: list[tuple[Packed, int]] = []

    def _level_proviso(self, successors: list[Successor]) -> list[tuple[int, int]] | None:
        """May the ample set stand?  Yes ([]) if a successor breaks a promise or one this
        partition owns is not among the states of the current depth or less; no (None)
        if every successor is such a state of its own; otherwise the (owner, fingerprint)
        questions to ask."""
        asks = []
        for _, _, nxt, found in successors:
            if found:
                return []
            fp = self.fingerprint_of(nxt)
            owner = owner_of(fp, self.workers)
            if owner != self.worker:
                asks.append((owner, fp))
            elif self.mem.deeper(fp):
                return []
        return asks or None

    def answer(self, queries: list[bytes]) -> list[bytes]:
        """For each worker's questions (in worker order), whether each fingerprint is
        one level deeper than the current one (or new), as bytes of 0 and 1."""
        return [bytes(self.mem.deeper(fp) for fp in pickle.loads(q)) for q in queries]

    def settle(self, answers: list[bytes]) -> tuple[LevelReport, list[Batch]]:
        """Expand the states that waited (with their ample set if an owner said one of
        its successors is one level deeper), then pack one batch of successors per
        owner: ``Incoming`` entries, each fingerprint once."""
        model = self.model
        report = LevelReport()
        cursor = [0] * self.workers
        for packed, index in self._waiting:
            state = model.unpack(packed)
            transitions = model.transitions(state)
            successors = ample_successors(model, state, transitions)
            assert successors is not None  # the step is deterministic
            deeper = False
            for _, _, nxt, _found in successors:
                owner = owner_of(self.fingerprint_of(nxt), self.workers)
                if owner != self.worker:
                    deeper = answers[owner][cursor[owner]] == 1 or deeper
                    cursor[owner] += 1
            if deeper:
                model.stats_reduced += len(transitions) - len(successors)
            else:
                successors = all_successors(model, state, transitions)
            if self._take(index, successors, report):
                break
        self._waiting = []
        boxes = self._outboxes
        batches = [box.finish() if box is not None else [] for box in boxes]
        report.sent = sum(box.nbytes for box in boxes if box is not None)
        self._outboxes = [None] * self.workers
        return self._counted(report), batches

    def _spool_file(self, owner: int) -> Path | None:
        if self.spool is None:
            return None
        return self.spool / f"level-{self.mem.level}-{self.worker}-{owner}"

    def _take(self, index: int, successors: list[Successor], report: LevelReport) -> bool:
        """Keep the successors of stored state ``index`` this partition owns and address
        the others to their owners; True at the first violation."""
        model = self.model
        parent = self.global_number(index)
        report.transitions += len(successors)
        for number, _t, nxt, found in successors:
            if found:
                report.found.append(Found(parent, number, found))
                return True
            fp = self.fingerprint_of(nxt)
            owner = owner_of(fp, self.workers)
            if owner != self.worker:
                box = self._outboxes[owner]
                assert box is not None
                if box.claim(fp):  # packed only the first time
                    box.put((fp, parent, number, model.pack(nxt)))
            elif self._keep(fp, parent, number, report, state=nxt):
                return True
        return False

    def _counted(self, report: LevelReport) -> LevelReport:
        report.reduced = self.model.stats_reduced - self._reduced
        self._reduced = self.model.stats_reduced
        self.mem.stats.transitions += report.transitions
        return report

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
        stored = mem.store(fp, parent, number)  # the parent's global number
        if stored < 0:
            return False
        report.new += 1
        if model.sanity:
            bug = model.sanity_of(state if state is not None else model.unpack(packed))  # type: ignore[arg-type]
            if bug:
                report.found.append(Found(parent, number, bug))
                return True
        mem.frontier.append((packed if packed is not None else model.pack(state), stored, mem.level + 1))  # type: ignore[arg-type]
        return False

    def receive(self, batches: list[Batch]) -> LevelReport:
        """Keep the new states among those other workers found, batches in worker order
        (so the first claim in that order wins, whatever the timing)."""
        report = LevelReport()
        model = self.model
        share = model.share
        for chunk in (c for batch in batches for c in batch_chunks(batch)):
            #: the sender's layouts (one object each in a chunk) -> this worker's equal one
            layouts: dict[int, Layout] = {}
            entry: Incoming
            for entry in pickle.loads(chunk):
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
                    return report
        self.mem.start_level(self.mem.level + 1)
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
