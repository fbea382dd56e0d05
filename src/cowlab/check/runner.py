"""One `cowlab check` run: pick the strategy, resume or start, stop cleanly, and turn
a counterexample into a replayable scenario (verified by replaying it)."""

from __future__ import annotations

from dataclasses import dataclass

from cowlab.check.checkpoint import Checkpointer, load_checkpoint
from cowlab.check.identity import run_identity
from cowlab.check.model import CheckModel
from cowlab.check.random_walk import WalkMemory, new_walk_memory, random_walks
from cowlab.check.result import Limits, SearchResult, peak_rss_mb
from cowlab.check.search import Memory, Progress, explore, new_memory
from cowlab.check.trace import to_scenario
from cowlab.engine import RunResult, run_scenario
from cowlab.history import Kernel
from cowlab.scenario import CheckConfig, Scenario

STRATEGIES = ("bfs", "dfs", "random")


@dataclass
class CheckRun:
    config: CheckConfig
    kernel: Kernel
    strategy: str
    result: SearchResult
    reduced: int
    peak_mb: float
    workers: int = 1
    #: bits of the visited-set fingerprints (None: the parallel search, which keeps
    #: canonical keys)
    fingerprint_bits: int | None = None
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
    workers: int = 1,
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
    memory: Memory | WalkMemory
    if resume is not None:
        memory = load_checkpoint(resume, meta)
    elif strategy == "random":
        memory = new_walk_memory(seed)
    else:
        memory = new_memory(model, strategy, fingerprint_bits)
    checkpointer = Checkpointer(path, meta, checkpoint_every) if path else None
    if strategy == "random":
        assert isinstance(memory, WalkMemory)
        result = random_walks(model, limits, memory, checkpointer=checkpointer, progress=progress)
    elif workers > 1:
        from cowlab.check.parallel import parallel_bfs

        result = parallel_bfs(model, limits, workers, reduce=reduce, progress=progress)
    else:
        assert isinstance(memory, Memory)
        result = explore(model, limits, memory, reduce=reduce, checkpointer=checkpointer, progress=progress)
    # the whole run's peak: this process's and every worker's (an upper bound when they
    # peak at different times)
    peak = peak_rss_mb() + result.workers_peak_mb
    run = CheckRun(
        config,
        kernel,
        strategy,
        result,
        model.stats_reduced,
        peak,
        workers,
        memory.fingerprint_bits if workers == 1 else None,
    )
    if result.outcome == "violation":
        run.counterexample = to_scenario(model, result.trace, f"{config.name}-counterexample")
        run.replay = run_scenario(run.counterexample, kernel, keep_state=True)
    return run
