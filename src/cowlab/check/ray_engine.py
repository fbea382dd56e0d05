"""``--engine ray``: the parallel breadth-first search over Ray actors, on this machine
(``ray.init()``) or on an existing cluster (``--address``).

Each actor holds one ``partition.Partition`` and builds its own model from the
configuration and the kernel's name, so any node with cowlab installed can host one.
A level's batches are returned by the sending actor as separate objects
(``num_returns``) and handed to the owning actor as references: Ray moves them from
node to node without passing them through the driver, which only sees the small
level reports.  The loop itself is ``levels.level_bfs``, the same as ``--workers N``
on processes.

Ray restarts a dead actor (``max_restarts``); the loop then puts every partition back
to the last checkpoint taken at a barrier.  On a cluster those files must be on
storage every node reads at the same path (``--checkpoint DIR``), or a restarted
actor finds them only on its own node.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

from cowlab.check.levels import REVIVALS, WorkerLost
from cowlab.check.model import CheckModel
from cowlab.check.partition import Batch, LevelReport, Partition, restore_partition, save_partition
from cowlab.history import kernel_at
from cowlab.scenario import CheckConfig

INSTALL_HINT = "--engine ray needs Ray: pip install 'cowlab[ray]'"


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or the cluster cannot host the workers asked for."""


def ray_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise RayUnavailableError(INSTALL_HINT) from None
    return ray


#: what another process needs to build the same model: the configuration, the kernel's
#: name and reverted commits (a Kernel is rebuilt, not sent), sanity checks, symmetry
ModelRecipe = tuple[CheckConfig, str, tuple[str, ...], bool, bool]


def model_recipe(model: CheckModel) -> ModelRecipe:
    kernel = model.kernel
    reverted = tuple(c.short for c in kernel.reverted)
    return (model.config, kernel.name, reverted, model.sanity, bool(model.symmetry))


def model_from(recipe: ModelRecipe) -> CheckModel:
    config, kernel, reverted, sanity, symmetry = recipe
    return CheckModel(config, kernel_at(kernel, reverted), sanity=sanity, symmetry=symmetry)


class PartitionActor:
    """One partition in a Ray actor (wrapped by ``ray.remote`` when Ray is imported)."""

    def __init__(self, recipe: ModelRecipe, worker: int, workers: int, reduce: bool, bits: int) -> None:
        import gc

        gc.disable()  # see search.no_cyclic_gc
        self.partition = Partition(model_from(recipe), worker, workers, reduce=reduce, bits=bits)

    def pid(self) -> int:
        return os.getpid()

    def seed(self) -> int:
        return self.partition.seed()

    def expand_level(self) -> tuple[object, ...]:
        """The report, then the questions for each worker: each its own Ray object."""
        report, questions = self.partition.expand_level()
        return (report, *questions)

    def answer(self, *questions: bytes) -> bytes | tuple[bytes, ...]:
        """The answers for each worker, each its own Ray object (one return value is
        not a tuple: ``num_returns=1``)."""
        answers = self.partition.answer(list(questions))
        return answers[0] if len(answers) == 1 else tuple(answers)

    def settle(self, *answers: bytes) -> tuple[object, ...]:
        """The report, then one batch per worker: each its own Ray object."""
        report, batches = self.partition.settle(list(answers))
        return (report, *batches)

    def receive(self, *batches: Batch) -> LevelReport:
        return self.partition.receive(list(batches))

    def below(self, key: int) -> tuple[int, int, int]:
        return self.partition.below(key)

    def link(self, index: int) -> tuple[int, int]:
        return self.partition.link(index)

    def memory_mb(self) -> tuple[float, float]:
        return self.partition.memory_mb()

    def save(self, directory: Path, meta: dict[str, Any]) -> None:
        save_partition(self.partition, directory, meta)

    def restore(self, directory: Path, meta: dict[str, Any]) -> None:
        restore_partition(self.partition, directory, meta)


#: whether this process started the local Ray it is connected to (and so stops it)
_STARTED: list[bool] = [False]


def connect(address: str | None, cpus: int | None) -> Any:
    """Ray, joined to the cluster at ``address`` or to a local one started with ``cpus``
    CPUs (all of this machine's if None); a Ray already running in this process (a
    test's, a notebook's) is used as it is."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    if address:
        check_address(address)
    try:
        ray.init(
            address=address,
            num_cpus=None if address else cpus or os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=False,
        )
    except Exception as exc:  # Ray's own errors for an unreachable or refused cluster
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayUnavailableError(f"cannot start {where}: {first}") from None
    _STARTED[0] = True
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT that does not answer is said at once: Ray itself retries for
    minutes, printing warnings (``auto`` and ``ray://`` addresses are left to Ray)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailableError(f"--address {address}: no Ray cluster answers there ({exc})") from None


def disconnect(ray: Any) -> None:
    """Stop the local Ray ``connect`` started; leave one that was running before."""
    if _STARTED[0]:
        ray.shutdown()
        _STARTED[0] = False


class RayWorkers:
    """``levels.Workers`` over Ray actors."""

    def __init__(
        self, model: CheckModel, size: int | None, *, reduce: bool, bits: int, address: str | None = None
    ) -> None:
        """``size`` workers, or one per CPU of the cluster (of this machine) if None."""
        self.actors: list[Any] = []
        self.ray = ray = connect(address, size)
        cpus = ray.cluster_resources().get("CPU", 0)
        self.size = size = size or max(1, int(cpus))
        if cpus < size:
            disconnect(ray)
            raise RayUnavailableError(f"--workers {size}: the Ray cluster has {cpus:g} CPUs")
        self._recipe = model_recipe(model)
        self._reduce, self._bits = reduce, bits
        self._remote = ray.remote(num_cpus=1, max_restarts=REVIVALS, max_task_retries=0)(PartitionActor)
        self.actors = [self._start(worker) for worker in range(size)]

    def _start(self, worker: int) -> Any:
        return self._remote.remote(self._recipe, worker, self.size, self._reduce, self._bits)

    def _get(self, refs: list[Any]) -> list[Any]:
        """The values of one reference per worker; a dead actor is a ``WorkerLost``."""
        out = []
        for worker, ref in enumerate(refs):
            try:
                out.append(self.ray.get(ref))
            except self.ray.exceptions.RayActorError as exc:
                raise WorkerLost(worker, type(exc).__name__) from None
            except self.ray.exceptions.RayTaskError as exc:
                raise exc.as_instanceof_cause() from None
        return out

    def _all(self, method: str, *args: object) -> list[Any]:
        return self._get([getattr(actor, method).remote(*args) for actor in self.actors])

    # --- levels.Workers ---------------------------------------------------------------

    def seed(self) -> int:
        return sum(self._all("seed"))

    def expand(self) -> tuple[list[LevelReport], list[list[Any]]]:
        refs = [actor.expand_level.options(num_returns=self.size + 1).remote() for actor in self.actors]
        reports = self._get([r[0] for r in refs])
        return reports, [r[1:] for r in refs]  # the batches stay where they were made

    def answer(self, questions: list[list[Any]]) -> list[list[Any]]:
        n = self.size
        out = []
        for owner, actor in enumerate(self.actors):
            refs = actor.answer.options(num_returns=n).remote(*questions[owner])
            out.append([refs] if n == 1 else list(refs))
        return out

    def settle(self, answers: list[list[Any]]) -> tuple[list[LevelReport], list[list[Any]]]:
        refs = [
            actor.settle.options(num_returns=self.size + 1).remote(*answers[sender])
            for sender, actor in enumerate(self.actors)
        ]
        reports = self._get([r[0] for r in refs])
        return reports, [r[1:] for r in refs]

    def receive(self, batches: list[list[Any]]) -> list[LevelReport]:
        return self._get([actor.receive.remote(*batches[owner]) for owner, actor in enumerate(self.actors)])

    def below(self, key: int) -> list[tuple[int, int, int]]:
        return self._all("below", key)

    def link(self, worker: int, index: int) -> tuple[int, int]:
        result: tuple[int, int] = self._get([self.actors[worker].link.remote(index)])[0]
        return result

    def memory(self) -> list[tuple[float, float]]:
        return self._all("memory_mb")

    def save(self, directory: Path, meta: dict[str, Any]) -> None:
        self._all("save", directory, meta)

    def restore(self, directory: Path, meta: dict[str, Any]) -> None:
        self._all("restore", directory, meta)

    def revive(self) -> list[int]:
        """Ray restarts a dead actor by itself (an empty partition) up to ``max_restarts``
        times; one past that is replaced by a new actor."""
        started = []
        for worker, actor in enumerate(self.actors):
            try:
                self.ray.get(actor.pid.remote())
            except self.ray.exceptions.RayActorError:
                self.actors[worker] = self._start(worker)
                started.append(worker)
        return started

    def kill(self, worker: int) -> None:
        """End a worker's process at once, as a crash would (fault-injection tests)."""
        import signal

        pid = self.ray.get(self.actors[worker].pid.remote())
        os.kill(pid, signal.SIGKILL)

    def close(self) -> float:
        """Stop the actors (and the local Ray this run started): their peak memory."""
        peak = 0.0
        with contextlib.suppress(WorkerLost):
            peak = sum(p for _, p in self.memory())
        for actor in self.actors:
            self.ray.kill(actor)
        disconnect(self.ray)
        return peak
