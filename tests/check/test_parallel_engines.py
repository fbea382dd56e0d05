"""The parallel search, over processes and over Ray actors, gives the single-process
answer: the same verdict, the same distinct states, transitions, depth and reduced
transitions, and where there is a violation the very counterexample one process
reports (the same steps, whatever the hash seed) with the counts it had when it met
it, with partial-order reduction or without.  A worker killed in the middle of a run
changes nothing; checkpoints chain across limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cowlab.check.checkpoint import CheckpointError
from cowlab.check.identity import run_identity
from cowlab.check.levels import LevelCheckpoints, level_bfs
from cowlab.check.model import CheckModel
from cowlab.check.parallel import ProcessWorkers
from cowlab.check.result import Limits
from cowlab.check.runner import CheckRun, run_check
from cowlab.history import kernel_at
from cowlab.scenario.catalog import builtin_config_names, load_named_config

#: either side of the commits the built-in configurations are about
KERNELS = ("v5.8", "v5.16", "v5.17", "v6.2")

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'cowlab[ray]')")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray with 2 CPUs for the module (as in CI): runs join it, never stop it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _check(config: str, kernel: str, **kw: Any) -> CheckRun:
    return run_check(load_named_config(config), kernel_at(kernel), **kw)


def _same_answer(one: CheckRun, many: CheckRun) -> None:
    """One process's answer: at a violation, its counterexample, step for step, and
    the counts it had when it stopped."""
    assert many.result.outcome == one.result.outcome
    for count in ("distinct", "transitions", "max_depth"):
        assert getattr(many.result.stats, count) == getattr(one.result.stats, count), count
    assert many.reduced == one.reduced
    assert many.result.trace == one.result.trace
    assert many.result.violations == one.result.violations
    if one.result.outcome == "violation":
        assert many.reproduced


#: in the default run, Ray on the configurations whose answers are the hardest to keep
#: (several equally short counterexamples, a GUP-fast race, a complete search); every
#: configuration under -m slow.  Processes, the default engine, run on all of them.
_RAY_DEFAULT = {"gaudi-open", "rdma-fork-gup-fast-open", "vmsplice-child-open"}
_SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "config", [pytest.param(c, marks=() if c in _RAY_DEFAULT else _SLOW) for c in builtin_config_names()]
)
def test_ray_gives_the_single_process_answer_on_every_builtin_configuration(
    local_ray: None, config: str
) -> None:
    for kernel in KERNELS:
        for reduce in (False, True):
            one = _check(config, kernel, reduce=reduce)
            many = _check(config, kernel, engine="ray", workers=2, reduce=reduce)
            _same_answer(one, many)
            assert many.engine == "ray" and many.result.workers == 2
            assert many.result.exchanged_bytes > 0  # the partitions did share the work


#: the THP configurations are the slowest; they run under -m slow
_PROCESSES_SLOW = {"gaudi-thp-open", "gaudi-thp-fork-open"}


@pytest.mark.parametrize(
    "config", [pytest.param(c, marks=_SLOW if c in _PROCESSES_SLOW else ()) for c in builtin_config_names()]
)
def test_processes_give_the_single_process_answer_on_every_builtin_configuration(config: str) -> None:
    for kernel in KERNELS:
        for reduce in (False, True):
            one = _check(config, kernel, reduce=reduce)
            for workers in (2, 3):
                _same_answer(one, _check(config, kernel, workers=workers, reduce=reduce))


def _cli(config: str, kernel: str, seed: str, *options: str) -> dict[str, Any]:
    """``cowlab check --json`` in a process of its own under ``PYTHONHASHSEED=seed``
    (and a Ray of its own): what one process's answer is made of, not the time, memory
    or traffic."""
    out = subprocess.run(
        [sys.executable, "-m", "cowlab", "check", config, "-k", kernel, "--json", *options],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": seed, "RAY_ADDRESS": "local"},
        check=False,
    )
    data = json.loads(out.stdout)
    stats = data.pop("stats")
    counts = ("distinct", "transitions", "max_depth", "reduced_transitions")
    return {**data, "stats": {count: stats[count] for count in counts}}


#: violations with several shortest counterexamples, where workers used to report
#: another one than one process; under several hash seeds
_HASH_SEEDS = [
    pytest.param("gaudi-open", "v5.16", "4242"),
    pytest.param("gaudi-open", "v5.16", "0", marks=pytest.mark.slow),
    *(
        pytest.param(config, kernel, seed, marks=pytest.mark.slow)
        for config, kernel in (("gaudi-open", "v5.17"), ("rdma-fork-gup-fast-open", "v5.8"))
        for seed in ("0", "1", "4242")
    ),
]


@pytest.mark.parametrize(("config", "kernel", "seed"), _HASH_SEEDS)
def test_every_engine_gives_one_process_counterexample_whatever_the_hash_seed(
    config: str, kernel: str, seed: str
) -> None:
    one = _cli(config, kernel, "1")
    assert one["outcome"] == "violation" and one["counterexample"]["steps"]
    assert _cli(config, kernel, seed) == one
    for options in (("--workers", "2"), ("--workers", "3"), ("--engine", "ray", "--workers", "2")):
        assert _cli(config, kernel, seed, *options) == one


def _model_and_checkpoints(config: str, kernel: str, directory: Path) -> tuple[CheckModel, LevelCheckpoints]:
    cfg, k = load_named_config(config), kernel_at(kernel)
    model = CheckModel(cfg, k)
    meta = run_identity(cfg, k, model, strategy="bfs", reduce=True, sanity=True, seed=0, fingerprint_bits=64)
    return model, LevelCheckpoints(directory, meta, every=0.0)  # a checkpoint at every barrier


def _killing_at(workers: Any, level: int, worker: int) -> Any:
    """A progress callback that kills ``worker`` once, after ``level`` levels."""
    seen = {"levels": 0, "killed": False}

    def progress(_stats: object, _frontier: int) -> None:
        seen["levels"] += 1
        if seen["levels"] == level and not seen["killed"]:
            seen["killed"] = True
            workers.kill(worker)

    progress.seen = seen  # type: ignore[attr-defined]
    return progress


@pytest.mark.parametrize(("engine", "victim"), [("processes", 0), ("ray", 1)])
@pytest.mark.parametrize(("kernel", "level"), [("v5.8", 12), ("v5.16", 9)])
def test_a_worker_killed_mid_run_changes_nothing(
    local_ray: None, tmp_path: Path, engine: str, victim: int, kernel: str, level: int
) -> None:
    """SIGKILL to one worker after ``level`` levels: it is started again (by Ray, or by
    the run), every partition goes back to the last barrier, and the answer is the one
    of an undisturbed run."""
    from cowlab.check.ray_engine import RayWorkers

    one = _check("gaudi-open", kernel)
    two = _check("gaudi-open", kernel, engine=engine, workers=2)
    model, checkpoints = _model_and_checkpoints("gaudi-open", kernel, tmp_path)
    pool = (
        ProcessWorkers(model, 2, reduce=True)
        if engine == "processes"
        else RayWorkers(model, 2, reduce=True, bits=64)
    )
    try:
        progress = _killing_at(pool, level, victim)
        result = level_bfs(model, Limits(), pool, progress=progress, checkpoints=checkpoints)
    finally:
        pool.close()
    assert progress.seen["killed"]
    assert result.outcome == one.result.outcome
    assert result.stats.distinct == two.result.stats.distinct
    assert result.stats.transitions == two.result.stats.transitions
    assert len(result.trace) == len(one.result.trace)


def test_a_worker_that_keeps_dying_stops_the_run_with_a_resumable_checkpoint(tmp_path: Path) -> None:
    model, checkpoints = _model_and_checkpoints("gaudi-open", "v5.8", tmp_path)
    pool = ProcessWorkers(model, 2, reduce=True)

    def progress(_stats: object, _frontier: int) -> None:
        pool.kill(1)

    try:
        with pytest.raises(
            CheckpointError, match=f"worker 1 died: signal 9 .*resume with --resume {tmp_path}"
        ):
            level_bfs(model, Limits(), pool, progress=progress, checkpoints=checkpoints)
    finally:
        pool.close()
    resumed = run_check(load_named_config("gaudi-open"), kernel_at("v5.8"), workers=2, resume=str(tmp_path))
    assert resumed.result.outcome == "complete"
    assert resumed.result.stats.distinct == _check("gaudi-open", "v5.8", workers=2).result.stats.distinct


@pytest.mark.parametrize("engine", ["processes", "ray"])
def test_a_chain_of_limited_parallel_runs_counts_as_one(local_ray: None, tmp_path: Path, engine: str) -> None:
    """Stopped by --max-states at a barrier and resumed from the checkpoint directory,
    twice: the same answer as one run (and a Ray run resumes a processes run's
    partitions and back: the files are the same)."""
    whole = _check("gaudi-open", "v5.8", workers=2)
    path = str(tmp_path / "ck")
    first = _check(
        "gaudi-open", "v5.8", engine=engine, workers=2, limits=Limits(max_states=300), checkpoint=path
    )
    assert first.result.outcome == "limit"
    other = "ray" if engine == "processes" else "processes"
    second = _check("gaudi-open", "v5.8", engine=other, workers=2, limits=Limits(max_states=900), resume=path)
    assert second.result.outcome == "limit" and second.result.stats.distinct > first.result.stats.distinct
    last = _check("gaudi-open", "v5.8", engine=engine, workers=2, resume=path)
    assert last.result.outcome == "complete"
    assert last.result.stats.distinct == whole.result.stats.distinct
    assert last.result.stats.transitions == whole.result.stats.transitions


def test_a_parallel_checkpoint_of_another_worker_count_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path)
    _check("gaudi-open", "v5.8", workers=2, limits=Limits(max_states=300), checkpoint=path)
    with pytest.raises(CheckpointError, match="checkpoint is for workers=2, this run has 3"):
        _check("gaudi-open", "v5.8", workers=3, resume=path)


def test_a_damaged_manifest_is_one_error(tmp_path: Path) -> None:
    _check("gaudi-open", "v5.8", workers=2, limits=Limits(max_states=300), checkpoint=str(tmp_path))
    manifest = tmp_path / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "level": "x"}))
    with pytest.raises(CheckpointError, match="manifest"):
        _check("gaudi-open", "v5.8", workers=2, resume=str(tmp_path))
    manifest.write_text("{")
    with pytest.raises(CheckpointError, match="damaged checkpoint manifest"):
        _check("gaudi-open", "v5.8", workers=2, resume=str(tmp_path))


def test_a_manifest_of_the_format_before_keys_is_one_error(tmp_path: Path) -> None:
    """Partitions saved before states carried their keys cannot go on: one line says so."""
    _check("gaudi-open", "v5.8", workers=2, limits=Limits(max_states=300), checkpoint=str(tmp_path))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 1}))
    with pytest.raises(
        CheckpointError, match=r"manifest format 1 \(this cowlab reads format 2\): start the run again"
    ):
        _check("gaudi-open", "v5.8", workers=2, resume=str(tmp_path))


@pytest.mark.parametrize("workers", [3, pytest.param(4, marks=_SLOW)])
def test_any_number_of_workers_stores_what_one_process_stores(workers: int) -> None:
    """The medium test configuration (about 50,000 states with reduction) on v4.9."""
    from cowlab.scenario import load_check_config

    config = load_check_config(Path(__file__).parent / "configs" / "medium.yaml")
    one = run_check(config, kernel_at("v4.9"))
    many = run_check(config, kernel_at("v4.9"), workers=workers)
    assert one.result.outcome == many.result.outcome == "complete"
    _same_answer(one, many)


@pytest.mark.parametrize("engine", ["processes", pytest.param("ray", marks=_SLOW)])
def test_a_swarm_of_random_walks_finds_the_gaudi_race_and_replays_it(local_ray: None, engine: str) -> None:
    run = _check("gaudi-open", "v5.16", strategy="random", engine=engine, workers=2, seed=7)
    assert run.result.outcome == "violation"
    assert {v.invariant for v in run.result.violations} == {"pin_coherence"}
    assert run.reproduced
    coverage = run.result.coverage
    assert coverage is not None and [m["seed"] for m in coverage["members"]] == [7, 8]


@pytest.mark.parametrize("engine", ["processes", "ray"])
def test_a_swarm_reports_the_states_its_members_covered_together(local_ray: None, engine: str) -> None:
    """On v5.8 there is nothing to find: the members stop at the time limit, and what
    they saw together lies between the most one member saw and the whole space."""
    whole = _check("gaudi-open", "v5.8", reduce=False).result.stats.distinct
    run = _check(
        "gaudi-open", "v5.8", strategy="random", engine=engine, workers=2, limits=Limits(time_limit=2.0)
    )
    assert run.result.outcome == "limit" and run.result.reason == "time-limit 2s"
    coverage = run.result.coverage
    assert coverage is not None
    most = max(m["distinct"] for m in coverage["members"])
    assert most <= coverage["union"] == run.result.stats.distinct <= min(whole, coverage["sum"])


@pytest.mark.slow
def test_two_workers_store_what_one_stores_on_the_large_configuration() -> None:
    """1.17 million states to depth 21 of gaudi-large, where a frame's stale pfn used to
    alias a new page and make the count depend on the order of expansion."""
    from cowlab.scenario import load_check_config

    config = load_check_config(Path(__file__).parents[2] / "benchmarks" / "configs" / "gaudi-large.yaml")
    limits = Limits(max_depth=21)
    one = run_check(config, kernel_at("v5.8"), limits=limits)
    two = run_check(config, kernel_at("v5.8"), limits=limits, workers=2)
    for count in ("distinct", "transitions", "depth_cut"):
        assert getattr(two.result.stats, count) == getattr(one.result.stats, count), count
