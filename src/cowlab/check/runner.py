"""One `cowlab check` run: pick the strategy, resume or start, stop cleanly, and turn
a counterexample into a replayable scenario (verified by replaying it)."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass

from cowlab.check.checkpoint import Checkpointer, load_checkpoint
from cowlab.check.identity import run_identity
from cowlab.check.levels import LevelCheckpoints, Workers, search_on
from cowlab.check.model import CheckModel
from cowlab.check.random_walk import WalkMemory, new_walk_memory, random_walks
from cowlab.check.result import Limits, SearchResult, peak_rss_mb
from cowlab.check.search import Memory, Progress, explore, new_memory
from cowlab.check.trace import to_scenario
from cowlab.engine import RunResult, run_scenario
from cowlab.history import Kernel
from cowlab.scenario import CheckConfig, Scenario

STRATEGIES = ("bfs", "dfs", "random")
#: how a parallel search reaches its workers: processes on this machine, or Ray actors
ENGINES = ("processes", "ray")


@dataclass
class CheckRun:
    config: CheckConfig
    kernel: Kernel
    strategy: str
    result: SearchResult
    reduced: int
    peak_mb: float
    workers: int = 1
    #: bits of the visited-set fingerprints (None: random walks)
    fingerprint_bits: int | None = None
    #: "single" (one process), or the parallel search's ``ENGINES`` entry
    engine: str = "single"
    counterexample: Scenario | None = None
    replay: RunResult | None = None

    @property
    def reproduced(self) -> bool:
        """Does replaying the emitted scenario break the same promise?"""
        if self.replay is None or not self.result.violations:
            return False
        wanted = {v.invariant for v in self.result.violations}
        return any(v.invariant in wanted for _, v in self.replay.violations)


def run_check(
    config: CheckConfig,
    kernel: Kernel,
    *,
    strategy: str = "bfs",
    limits: Limits | None = None,
    reduce: bool = True,
    seed: int = 0,
    workers: int | None = 1,
    engine: str = "processes",
    address: str | None = None,
    checkpoint: str | None = None,
    checkpoint_every: float = 30.0,
    resume: str | None = None,
    progress: Progress | None = None,
    sanity: bool = True,
    fingerprint_bits: int = 64,
) -> CheckRun:
    limits = limits or Limits()
    model = CheckModel(config, kernel, sanity=sanity, symmetry=reduce)
    path = checkpoint or resume
    # what a checkpoint must match (it boots the machine for its layout and hashes the
    # model's source): computed only by a run that reads or writes a checkpoint
    meta: dict[str, object] = {}
    if path:
        meta = run_identity(
            config,
            kernel,
            model,
            strategy=strategy,
            reduce=reduce,
            sanity=sanity,
            seed=seed,
            fingerprint_bits=fingerprint_bits,
        )
    many = engine == "ray" or (workers or 1) > 1
    bits: int | None = fingerprint_bits
    if many and strategy == "random":
        from cowlab.check.swarm import swarm

        result = swarm(
            model,
            limits,
            workers if engine == "ray" else workers or 1,
            engine=engine,
            seed=seed,
            address=address,
            directory=path,
            meta={**meta, "seed": None} if meta else {},
            resume=resume is not None,
        )
        bits = None
    elif many and strategy == "bfs":
        result = _parallel_search(
            model,
            limits,
            meta,
            engine=engine,
            workers=workers,
            address=address,
            reduce=reduce,
            bits=fingerprint_bits,
            progress=progress,
            directory=path,
            every=checkpoint_every,
            resume=resume is not None,
        )
    else:
        engine = "single"
        memory: Memory | WalkMemory
        if resume is not None:
            memory = load_checkpoint(resume, meta)
        elif strategy == "random":
            memory = new_walk_memory(seed)
        else:
            memory = new_memory(model, strategy, fingerprint_bits)
        checkpointer = Checkpointer(path, meta, checkpoint_every) if path else None
        if isinstance(memory, WalkMemory):
            result = random_walks(model, limits, memory, checkpointer=checkpointer, progress=progress)
            bits = None
        else:
            result = explore(
                model, limits, memory, reduce=reduce, checkpointer=checkpointer, progress=progress
            )
            bits = memory.fingerprint_bits
    # the whole run's peak: this process's and every worker's (an upper bound when they
    # peak at different times)
    peak = peak_rss_mb() + result.workers_peak_mb
    run = CheckRun(config, kernel, strategy, result, model.stats_reduced, peak, result.workers, bits, engine)
    return _finish(run, model)


def _finish(run: CheckRun, model: CheckModel) -> CheckRun:
    """A counterexample becomes a scenario, replayed on the interpreted engine."""
    if run.result.outcome == "violation":
        run.counterexample = to_scenario(model, run.result.trace, f"{run.config.name}-counterexample")
        run.replay = run_scenario(run.counterexample, run.kernel, keep_state=True)
    return run


def _parallel_search(
    model: CheckModel,
    limits: Limits,
    meta: dict[str, object],
    *,
    engine: str,
    workers: int | None,
    address: str | None,
    reduce: bool,
    bits: int,
    progress: Progress | None,
    directory: str | None,
    every: float,
    resume: bool,
) -> SearchResult:
    """The level-synchronous search over processes or Ray actors.  It always keeps
    checkpoints at barriers (in a temporary directory unless asked for one), so that a
    worker that dies costs time, never states."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="cowlab-check-"))
            meta = run_identity(
                model.config,
                model.kernel,
                model,
                strategy="bfs",
                reduce=reduce,
                sanity=model.sanity,
                seed=0,
                fingerprint_bits=bits,
            )
        checkpoints = LevelCheckpoints(directory, meta, every)
        pool: Workers
        if engine == "ray":
            from cowlab.check.ray_engine import RayWorkers

            pool = RayWorkers(model, workers, reduce=reduce, bits=bits, address=address)
        else:
            from cowlab.check.parallel import ProcessWorkers

            pool = ProcessWorkers(model, workers or 1, reduce=reduce, bits=bits)
        return search_on(model, limits, pool, progress=progress, checkpoints=checkpoints, resume=resume)
