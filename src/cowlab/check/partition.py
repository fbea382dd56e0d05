"""One worker's share of a parallel breadth-first search: the states whose fingerprint
it owns, expanded one level at a time.

The parallel engines (``--workers N`` over processes on one machine, ``--engine ray``
over a Ray cluster) differ only in how they carry messages; each worker holds one
``Partition`` and the level loop (``levels``) drives them all.  A partition keeps what
the single-process search keeps (``search.Memory``): fingerprints of the states it
owns, their trace links and its part of the frontier as packed states.

A level is four steps.  ``expand_level`` expands every state of the level and addresses
each successor to its owner, itself included; where the partial-order reduction's level
proviso needs to know about a successor another worker owns (is it new or one level
deeper?), the state waits and the question goes to the owner (``answer``); ``settle``
expands the states that waited and packs one batch of successors per owner;
``receive`` merges the batches addressed to it and stores the new states.  The
proviso's answers do not depend on the order of expansion, so any number of workers
stores the states one process stores; every level is complete before the next begins,
so the first violation found is at the least depth, a shortest counterexample.

Every state carries a key, its place in one process's queue: its parent's key shifted
by ``KEY_BITS``, plus its position in the parent's successor list.  A partition expands
its frontier in key order, so what it addresses to an owner comes in key order (one run
from ``expand_level``, one from ``settle``); ``receive`` merges the runs of every
sender by key and stores a state under its least claim, the one a single process meets
first, and appends the new states to the frontier in key order.  So the stored states,
their trace links and the order of every frontier are those of one process, and the
violation of least key, with the counts below it (``below``), is one process's answer.

A state's trace link names its parent by a global number, ``index * workers +
worker``, so a counterexample is walked back across partitions.
"""

from __future__ import annotations

import heapq
import os
import pickle
import struct
import tempfile
from array import array
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

#: a successor's key is its parent's shifted by this many bits, plus its position in
#: the parent's successor list (transition numbers are 16-bit already: TraceLinks)
KEY_BITS = 16
ROOT_KEY = 0
#: a batch's entry: its key, fingerprint, parent's global number, transition number,
#: the state (the key first: runs are merged by it, and keys are unique)
Incoming = tuple[int, int, int, int, Packed]
#: entries pickled together in one chunk of a batch
CHUNK_ENTRIES = 4096
_LENGTH = struct.Struct("<I")

#: entries in key order: the chunks of pickled ``Incoming`` entries, the path of the
#: spool file that holds them ("" if none), or (a partition's own, which never leave
#: its process) an anonymous temporary file
Run = list[bytes] | str | IO[bytes]
#: what travels from a sender to an owner in one level: the run of its expansion and
#: the run of its settling
Batch = list[Run]


class Outbox:
    """The successors one step of a level addresses to one owner, in key order: each
    fingerprint once (its least key), pickled in chunks as they come (bytes, not
    objects, wait for the owner), and written to a spool file when the workers share a
    disk, or to an anonymous file when the owner is this partition (``private``), so
    that a level's traffic is never held whole in a process's memory."""

    def __init__(self, bits: int, spool: Path | None, *, private: bool = False) -> None:
        self.sent = FingerprintSet(bits)
        self.entries: list[Incoming] = []
        self.chunks: list[bytes] = []
        self.spool = spool
        self.private = private
        self.nbytes = 0
        self._file: IO[bytes] | None = None

    def claim(self, fp: int) -> bool:
        """Is this the first time this step addresses ``fp`` to the owner?"""
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
        if self.spool is None and not self.private:
            self.chunks.append(chunk)
            return
        if self._file is None:
            self._file = self._open()
        self._file.write(_LENGTH.pack(len(chunk)) + chunk)

    def _open(self) -> IO[bytes]:
        if self.private:
            return tempfile.TemporaryFile(prefix="cowlab-own-")
        assert self.spool is not None
        return open(self.spool, "wb")

    def finish(self) -> Run:
        self._flush()
        if self._file is None:
            return self.chunks if self.spool is None else ""
        if self.private:
            self._file.seek(0)
            return self._file
        self._file.close()
        return str(self.spool)


def run_chunks(run: Run) -> Iterator[bytes]:
    """The chunks of a run, one at a time (a file is closed, and a spool file removed,
    once read)."""
    if isinstance(run, list):
        yield from run
        return
    if not run:
        return
    with open(run, "rb") if isinstance(run, str) else run as f:
        while header := f.read(_LENGTH.size):
            (size,) = _LENGTH.unpack(header)
            yield f.read(size)
    if isinstance(run, str):
        os.unlink(run)


def run_entries(run: Run) -> Iterator[Incoming]:
    for chunk in run_chunks(run):
        yield from pickle.loads(chunk)


@dataclass(frozen=True)
class Found:
    """A violation: the transition ``number`` taken from the state ``parent`` (global
    number) breaks ``violations``, or reaches a state that fails the sanity checks
    (``stored``: one process had stored it, and counted it, before it checked).
    ``key``: the successor's key, where one process would have met it."""

    key: int
    parent: int
    number: int
    violations: list[Violation]
    stored: bool = False


@dataclass
class LevelReport:
    """What one partition did in one step of a level (the batches travel separately)."""

    transitions: int = 0
    new: int = 0
    reduced: int = 0
    found: list[Found] = field(default_factory=list)
    #: bytes of the batches sent to other workers
    sent: int = 0
    #: states waiting for the next level (after ``receive``)
    frontier: int = 0


class Expanded:
    """The states of a level in key order (the frontier it started with, kept until the
    next level) and how many transitions each took and how many the reduction skipped:
    when a violation stops the level, what one process had counted before it is summed
    from these (``upto``).  Eight bytes a state in memory; the states wait on disk."""

    def __init__(self, states: Frontier) -> None:
        states.to_disk()  # read once to expand, and again only at a violation
        self.states = states
        self.transitions = array("I", bytes(4 * len(states)))
        self.reduced = array("I", bytes(4 * len(states)))

    def note(self, position: int, transitions: int, reduced: int) -> None:
        self.transitions[position] = transitions
        self.reduced[position] = reduced

    def upto(self, key: int) -> tuple[int, int]:
        """(transitions, reduced transitions) of the states of key ``key`` or less."""
        transitions = reduced = 0
        for (_, _, k), n, r in zip(self.states, self.transitions, self.reduced, strict=True):
            if k > key:
                break
            transitions += n
            reduced += r
        return transitions, reduced


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
        #: the search memory of this share (``mem.level``: the depth of its frontier;
        #: a frontier entry is (packed, index, key), in key order)
        self.mem = Memory("bfs", FingerprintSet(bits), TraceLinks(), Frontier(), Stats())
        self.mem.start_level(0)
        self.fingerprint = fingerprint64 if bits == 64 else fingerprint128
        #: this level's runs addressed to this partition itself (they never travel)
        self._own: Batch = []
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
        self.mem.frontier.append((self.model.pack(state), self.mem.store_root(fp), ROOT_KEY))
        return 1

    # --- one level: expand, answer, settle, receive ------------------------------------

    def expand_level(self) -> tuple[LevelReport, list[bytes]]:
        """Expand the states of the current level whose expansion this partition can
        decide alone: the report, and per worker the fingerprints to ask it about (the
        level proviso's question for ample successors it owns; ``answer``).  The others
        wait for ``settle``.  Stops at the first violation: what follows has greater
        keys."""
        model = self.model
        self._start_level()
        report = LevelReport()
        queries: list[list[int]] = [[] for _ in range(self.workers)]
        for position, (packed, index, key) in enumerate(self._expanded.states):
            state = model.unpack(packed)
            transitions = model.transitions(state)
            successors = ample_successors(model, state, transitions) if self.reduce else None
            reduced = 0
            if successors is not None:
                asks = self._level_proviso(successors)
                if asks:  # settled once the owners have answered
                    self._waiting.append((packed, index, key, position))
                    for owner, fp in asks:
                        queries[owner].append(fp)
                    continue
                if asks is None:  # no successor one level deeper: the full expansion
                    successors = None
                else:
                    reduced = len(transitions) - len(successors)
            if successors is None:
                successors = all_successors(model, state, transitions)
            if self._take(index, key, position, successors, reduced, report):
                break
        report.sent = sum(9 * len(q) for q in queries)  # a fingerprint, and its answer
        return self._counted(report), [pickle.dumps(q, protocol=pickle.HIGHEST_PROTOCOL) for q in queries]

    def _start_level(self) -> None:
        """The frontier becomes the level's states (``Expanded``); the states ``receive``
        stores go to a new one."""
        mem = self.mem
        self._expanded = Expanded(mem.frontier)  # type: ignore[arg-type]
        mem.frontier = Frontier()
        #: per step of the level, an outbox per owner (this partition's own included)
        self._runs: list[list[Outbox]] = []
        self._open_run()
        #: states whose ample set waits for answers: (packed, index, key, position), in
        #: key order
        self._waiting: list[tuple[Packed, int, int, int]] = []

    def _open_run(self) -> None:
        """A new run per owner: a step expands states of greater keys than the last
        one's, but of lesser keys than its own states that waited."""
        step = len(self._runs)
        self._outboxes = [
            Outbox(self.mem.visited.bits, self._spool_file(owner, step), private=owner == self.worker)
            for owner in range(self.workers)
        ]
        self._runs.append(self._outboxes)

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
        its successors is one level deeper), then hand over one batch of successors per
        owner: its runs of ``Incoming`` entries.  This partition's own stay here."""
        model = self.model
        report = LevelReport()
        cursor = [0] * self.workers
        if self._waiting:
            self._open_run()
        for packed, index, key, position in self._waiting:
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
            reduced = len(transitions) - len(successors)
            if not deeper:
                successors, reduced = all_successors(model, state, transitions), 0
            if self._take(index, key, position, successors, reduced, report):
                break
        self._waiting = []
        batches = [[box.finish() for box in boxes] for boxes in zip(*self._runs, strict=True)]
        report.sent = sum(
            box.nbytes for boxes in self._runs for owner, box in enumerate(boxes) if owner != self.worker
        )
        self._own, batches[self.worker] = batches[self.worker], []
        self._runs = []
        return self._counted(report), batches

    def _spool_file(self, owner: int, step: int) -> Path | None:
        if self.spool is None:
            return None
        return self.spool / f"level-{self.mem.level}-{self.worker}-{owner}-{step}"

    def _take(
        self,
        index: int,
        key: int,
        position: int,
        successors: list[Successor],
        reduced: int,
        report: LevelReport,
    ) -> bool:
        """Address the successors of stored state ``index`` (key ``key``, at
        ``position`` in the level) to their owners, this partition included; True at
        the first violation."""
        model, visited = self.model, self.mem.visited
        parent = self.global_number(index)
        if len(successors) > 1 << KEY_BITS:
            raise ValueError(f"{len(successors)} successors: a key has room for {1 << KEY_BITS}")
        report.transitions += len(successors)
        report.reduced += reduced
        self._expanded.note(position, len(successors), reduced)
        base = key << KEY_BITS
        for place, (number, _t, nxt, found) in enumerate(successors):
            if found:
                report.found.append(Found(base | place, parent, number, found))
                return True
            fp = self.fingerprint_of(nxt)
            owner = owner_of(fp, self.workers)
            if owner == self.worker and fp in visited:
                continue  # known already: not worth sending to itself
            box = self._outboxes[owner]
            if box.claim(fp):  # packed only the first time
                box.put((base | place, fp, parent, number, model.pack(nxt)))
        return False

    def _counted(self, report: LevelReport) -> LevelReport:
        self.mem.stats.transitions += report.transitions
        return report

    def receive(self, batches: list[Batch]) -> LevelReport:
        """Store the new states among those every worker addressed to this one (its own
        included), merged in key order: the least claim of a fingerprint is stored, and
        the frontier is in key order.  Stops at a state that fails the sanity checks."""
        report = LevelReport()
        own, self._own = self._own, []
        runs = [
            run for sender, batch in enumerate(batches) for run in (own if sender == self.worker else batch)
        ]
        #: the sender's layouts (by id, kept alive so that no id is reused) -> this worker's
        layouts: dict[int, tuple[Layout, Layout]] = {}
        visited = self.mem.visited
        for key, fp, parent, number, packed in heapq.merge(*map(run_entries, runs)):
            if fp in visited:
                continue
            if self._keep(key, fp, parent, number, self._shared(packed, layouts), report):
                return report
        self.mem.start_level(self.mem.level + 1)
        report.frontier = len(self.mem.frontier)
        return report

    def _shared(self, packed: Packed, layouts: dict[int, tuple[Layout, Layout]]) -> Packed:
        """A state from a batch, with this worker's objects equal to the sender's."""
        share = self.model.share
        known = layouts.get(id(packed.layout))
        if known is None:
            layout = share(packed.layout)
            layout.symbols.learn(packed.layout.symbols)
            known = layouts[id(packed.layout)] = (packed.layout, layout)
        return Packed(packed.vector, known[1], share(packed.spec), share(packed.pcs), share(packed.budgets))

    def _keep(self, key: int, fp: int, parent: int, number: int, packed: Packed, report: LevelReport) -> bool:
        """Store a successor this partition owns if it is new; True if it fails the
        sanity checks."""
        mem, model = self.mem, self.model
        stored = mem.store(fp, parent, number)  # the parent's global number
        if stored < 0:
            return False
        report.new += 1
        if model.sanity:
            bug = model.sanity_of(model.unpack(packed))
            if bug:
                report.found.append(Found(key, parent, number, bug, stored=True))
                return True
        mem.frontier.append((packed, stored, key))
        return False

    def below(self, key: int) -> tuple[int, int, int]:
        """What one process had counted of this level's work when it met the successor
        of key ``key``: (states this partition stored of lesser key, transitions and
        reduced transitions of its states expanded up to that successor's parent)."""
        stored = 0
        for _, _, k in self.mem.frontier:  # in key order
            if k >= key:
                break
            stored += 1
        return (stored, *self._expanded.upto(key >> KEY_BITS))

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
