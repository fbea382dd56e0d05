"""``--workers N``: the parallel breadth-first search over processes on this machine.

Each worker is a forked process (it shares the model with the parent) that holds one
``partition.Partition`` and answers the level loop (``levels``) over a pipe.  A level's
batches are spool files in a temporary directory: the parent routes their names from
senders to owners, never their contents, and no process holds a level's traffic in
memory.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import resource
import shutil
import signal
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from cowlab.check.levels import WorkerLost
from cowlab.check.model import CheckModel
from cowlab.check.partition import LevelReport, Partition, restore_partition, save_partition

#: what a worker answers: the Partition method, or a helper taking the partition first
_OPS: dict[str, Callable[..., Any]] = {
    "seed": Partition.seed,
    "expand_level": Partition.expand_level,
    "answer": Partition.answer,
    "settle": Partition.settle,
    "receive": Partition.receive,
    "below": Partition.below,
    "link": Partition.link,
    "memory_mb": Partition.memory_mb,
    "save": save_partition,
    "restore": restore_partition,
}


def _serve(
    conn: Connection, model: CheckModel, worker: int, workers: int, reduce: bool, bits: int, spool: Path
) -> None:
    # the parent answers a Ctrl-C (sent to the whole process group) and stops the
    # workers by message; SIGTERM (terminate()) ends a worker at once, without a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.disable()  # see search.no_cyclic_gc
    partition = Partition(model, worker, workers, reduce=reduce, bits=bits, spool=spool)
    while True:
        try:
            op, args = conn.recv()
        except EOFError:  # the parent is gone
            return
        if op == "stop":
            return
        try:
            reply: tuple[bool, Any] = (True, _OPS[op](partition, *args))
        except Exception as exc:  # the parent raises it: a worker never dies of an answer
            reply = (False, exc)
        conn.send(reply)


class ProcessWorkers:
    """``levels.Workers`` over forked processes and pipes."""

    def __init__(self, model: CheckModel, size: int, *, reduce: bool, bits: int = 64) -> None:
        self.size = size
        self._args = (model, reduce, bits)
        #: where a level's batches wait for their owner (files, not the parent's memory)
        self.spool = Path(tempfile.mkdtemp(prefix="cowlab-spool-"))
        self._ctx = mp.get_context("fork")
        self._conns: list[Connection] = []
        self._procs: list[BaseProcess] = []
        #: every question asked has been answered (false after an interrupt)
        self._in_step = True
        for worker in range(size):
            conn, proc = self._start(worker)
            self._conns.append(conn)
            self._procs.append(proc)

    def _start(self, worker: int) -> tuple[Connection, BaseProcess]:
        model, reduce, bits = self._args
        here, there = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_serve, args=(there, model, worker, self.size, reduce, bits, self.spool), daemon=True
        )
        proc.start()
        there.close()  # so that a dead worker's pipe reads as closed
        return here, proc

    # --- messages ---------------------------------------------------------------------

    def _send(self, worker: int, op: str, *args: object) -> None:
        try:
            self._conns[worker].send((op, args))
        except (BrokenPipeError, OSError):
            raise WorkerLost(worker, self._why(worker)) from None

    def _recv(self, worker: int) -> Any:
        try:
            ok, value = self._conns[worker].recv()
        except (EOFError, OSError):
            raise WorkerLost(worker, self._why(worker)) from None
        if not ok:
            raise value
        return value

    def _why(self, worker: int) -> str:
        proc = self._procs[worker]
        proc.join(timeout=1)
        code = proc.exitcode
        return f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"

    def _all(self, op: str, per_worker: list[tuple[object, ...]] | None = None) -> list[Any]:
        """Ask every worker at once, then collect the answers in worker order."""
        self._in_step = False
        asked, lost = [], None
        for worker in range(self.size):
            try:
                self._send(worker, op, *(per_worker[worker] if per_worker else ()))
                asked.append(worker)
            except WorkerLost as exc:
                lost = lost or exc
        answers: list[Any] = []
        error: BaseException | None = None
        for worker in asked:  # every answer is read, so the pipes stay in step
            try:
                answers.append(self._recv(worker))
            except WorkerLost as exc:
                lost = lost or exc
            except Exception as exc:  # raised by the worker
                error = error or exc
        if lost is not None:
            raise lost
        self._in_step = True
        if error is not None:
            raise error
        return answers

    # --- levels.Workers ---------------------------------------------------------------

    def seed(self) -> int:
        return sum(self._all("seed"))

    def expand(self) -> tuple[list[LevelReport], list[list[Any]]]:
        replies = self._all("expand_level")
        return [r for r, _ in replies], [b for _, b in replies]

    def answer(self, questions: list[list[Any]]) -> list[list[Any]]:
        return self._all("answer", [(q,) for q in questions])

    def settle(self, answers: list[list[Any]]) -> tuple[list[LevelReport], list[list[Any]]]:
        replies = self._all("settle", [(a,) for a in answers])
        return [r for r, _ in replies], [b for _, b in replies]

    def receive(self, batches: list[list[Any]]) -> list[LevelReport]:
        return self._all("receive", [(b,) for b in batches])

    def below(self, key: int) -> list[tuple[int, int, int]]:
        return self._all("below", [(key,)] * self.size)

    def link(self, worker: int, index: int) -> tuple[int, int]:
        self._in_step = False
        self._send(worker, "link", index)
        result: tuple[int, int] = self._recv(worker)
        self._in_step = True
        return result

    def memory(self) -> list[tuple[float, float]]:
        return self._all("memory_mb")

    def save(self, directory: Path, meta: dict[str, Any]) -> None:
        self._all("save", [(directory, meta)] * self.size)

    def restore(self, directory: Path, meta: dict[str, Any]) -> None:
        self._all("restore", [(directory, meta)] * self.size)

    def revive(self) -> list[int]:
        started = []
        for worker, proc in enumerate(self._procs):
            if not proc.is_alive():
                self._conns[worker].close()
                self._conns[worker], self._procs[worker] = self._start(worker)
                started.append(worker)
        return started

    def kill(self, worker: int) -> None:
        """End a worker's process at once, as a crash would (fault-injection tests)."""
        os.kill(self._procs[worker].pid, signal.SIGKILL)  # type: ignore[arg-type]

    def close(self) -> float:
        """Stop every worker: the sum of their peak memory in MB (after an interrupt,
        with questions unanswered, the largest worker's, from the kernel's accounting)."""
        peak = None
        if self._in_step:
            with contextlib.suppress(WorkerLost):
                peak = sum(p for _, p in self.memory())
        for conn in self._conns:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("stop", ()))
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        shutil.rmtree(self.spool, ignore_errors=True)
        return peak
