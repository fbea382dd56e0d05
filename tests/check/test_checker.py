"""The model checker finds the Gaudi interleaving by itself, and its reductions,
checkpoints and workers do not change what it finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowlab.check.checkpoint import load_checkpoint
from cowlab.check.model import CheckModel
from cowlab.check.result import Limits
from cowlab.check.runner import run_check
from cowlab.check.search import explore, new_memory
from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.scenario import load_scenario
from cowlab.scenario.catalog import load_named_config
from cowlab.scenario.dump import dump_scenario


def check(name: str, kernel: str, **kw):
    return run_check(load_named_config(name), kernel_at(kernel), **kw)


@pytest.mark.parametrize("kernel", ["v5.9", "v5.16"])
def test_gaudi_open_finds_pin_coherence_violation(kernel: str) -> None:
    run = check("gaudi-open", kernel)
    assert run.result.outcome == "violation"
    assert run.result.violations[0].invariant == "pin_coherence"
    assert run.reproduced
    texts = [str(e) for r in run.replay.steps for e in r.events]
    assert any("writable migration entry -> readable" in t for t in texts)
    assert any("do_wp_page: refcount 1025 != 1 -> copy" in t for t in texts)


@pytest.mark.parametrize("kernel", ["v5.8", "v6.2"])
def test_gaudi_open_has_no_violation(kernel: str) -> None:
    run = check("gaudi-open", kernel)
    assert run.result.outcome == "complete"
    assert run.result.stats.distinct > 100


@pytest.mark.parametrize("kernel", ["v5.17", "v5.18"])
def test_gaudi_open_pin_after_scan_survives_80d47f5de5e3(kernel: str) -> None:
    """80d47f5de5e3 skips pages already pinned; a FOLL_FORCE pin taken after the scan
    goes straight through the PROT_NONE PTE (no FOLL_NUMA), and the Gaudi copy follows."""
    run = check("gaudi-open", kernel)
    assert run.result.outcome == "violation"
    assert run.reproduced
    steps = [type(s.action).__name__ for s in run.counterexample.steps]
    assert steps.index("NumaScan") < steps.index("Pin")
    texts = [str(e) for r in run.replay.steps for e in r.events]
    assert any("through the PROT_NONE PTE" in t for t in texts)


def test_bfs_trace_is_no_longer_than_dfs_trace() -> None:
    bfs = check("gaudi-open", "v5.16")
    dfs = check("gaudi-open", "v5.16", strategy="dfs")
    assert dfs.result.outcome == "violation"
    assert len(bfs.result.trace) <= len(dfs.result.trace)


def test_random_walks_are_reproducible_by_seed() -> None:
    a = check("gaudi-open", "v5.16", strategy="random", seed=7)
    b = check("gaudi-open", "v5.16", strategy="random", seed=7)
    assert a.result.outcome == b.result.outcome == "violation"
    assert a.result.trace == b.result.trace


def test_emitted_scenario_replays_to_the_same_violation() -> None:
    run = check("gaudi-open", "v5.16")
    text = dump_scenario(run.counterexample)
    replay = run_scenario(load_scenario(text, source="<emitted>"), kernel_at("v5.16"))
    assert replay.violations[0][1].invariant == "pin_coherence"


@pytest.mark.parametrize(
    ("name", "kernel", "outcome"),
    [
        ("rdma-fork-open", "v5.8", "violation"),
        ("rdma-fork-open", "v5.9", "complete"),
        ("vmsplice-child-open", "v5.7", "violation"),
        ("vmsplice-child-open", "v5.8", "complete"),
        ("vmsplice-child-open", "v6.2", "complete"),
    ],
)
def test_open_configs(name: str, kernel: str, outcome: str) -> None:
    assert check(name, kernel).result.outcome == outcome


@pytest.mark.parametrize(
    ("name", "kernel"),
    [
        ("vmsplice-child-open", "v5.7"),
        ("vmsplice-child-open", "v5.9"),
        ("rdma-fork-open", "v5.8"),
        ("rdma-fork-open", "v5.9"),
        ("gaudi-open", "v5.8"),
        ("gaudi-open", "v5.16"),
    ],
)
def test_reduction_keeps_verdicts(name: str, kernel: str, capsys: pytest.CaptureFixture[str]) -> None:
    full = check(name, kernel, reduce=False)
    reduced = check(name, kernel, reduce=True)
    assert full.result.outcome == reduced.result.outcome
    if full.result.outcome == "violation":
        assert {v.invariant for v in full.result.violations} == {
            v.invariant for v in reduced.result.violations
        }
    assert reduced.result.stats.distinct <= full.result.stats.distinct
    with capsys.disabled():
        print(
            f"\n  {name} {kernel}: {full.result.outcome}, distinct states "
            f"unreduced {full.result.stats.distinct}, reduced {reduced.result.stats.distinct}"
        )


def test_resume_after_a_stop_gives_the_same_answer(tmp_path) -> None:
    cfg = load_named_config("gaudi-open")
    kernel = kernel_at("v5.8")
    whole = run_check(cfg, kernel)
    path = str(tmp_path / "ck")
    partial = run_check(cfg, kernel, limits=Limits(max_states=300), checkpoint=path)
    assert partial.result.outcome == "limit"
    resumed = run_check(cfg, kernel, resume=path)
    assert resumed.result.outcome == whole.result.outcome == "complete"
    assert resumed.result.stats.distinct == whole.result.stats.distinct


def test_checkpoint_belongs_to_its_run(tmp_path) -> None:
    from cowlab.check.checkpoint import CheckpointError

    path = str(tmp_path / "ck")
    run_check(
        load_named_config("gaudi-open"), kernel_at("v5.8"), limits=Limits(max_states=100), checkpoint=path
    )
    with pytest.raises(CheckpointError, match="kernel"):
        load_checkpoint(
            path, {"config": "gaudi-open", "kernel": "v6.2", "strategy": "bfs", "reduce": True, "seed": None}
        )


def test_a_checkpoint_of_another_fingerprint_function_is_refused(tmp_path, monkeypatch) -> None:
    """Fingerprints made by another hash would match nothing: resuming must refuse."""
    from cowlab.check import identity
    from cowlab.check.checkpoint import CheckpointError

    path = str(tmp_path / "ck")
    cfg, kernel = load_named_config("gaudi-open"), kernel_at("v5.8")
    run_check(cfg, kernel, limits=Limits(max_states=100), checkpoint=path)
    monkeypatch.setattr(identity, "FINGERPRINT", "blake2b")
    with pytest.raises(CheckpointError, match="fingerprint='xxh3', this run has 'blake2b'"):
        run_check(cfg, kernel, resume=path)


@pytest.mark.parametrize("kernel", ["v5.8", "v5.16"])
def test_two_workers_agree_with_one(kernel: str) -> None:
    one = check("gaudi-open", kernel)
    two = check("gaudi-open", kernel, workers=2)
    assert one.result.outcome == two.result.outcome
    if one.result.outcome == "complete":
        assert one.result.stats.distinct == two.result.stats.distinct
    else:
        assert len(one.result.trace) == len(two.result.trace)
        assert two.reproduced


def test_interrupted_search_keeps_what_it_found() -> None:
    model = CheckModel(load_named_config("gaudi-open"), kernel_at("v5.8"))
    mem = new_memory(model, "bfs")
    first = explore(model, Limits(max_states=200), mem)
    assert first.outcome == "limit"
    known = len(mem.visited)
    second = explore(model, Limits(), mem)
    assert second.outcome == "complete"
    assert len(mem.visited) >= known


INDEPENDENT = """
name: independent
machine: {nodes: 1, numa_balancing: false}
processes:
  - name: P
    threads: [{name: T1}]
  - name: Q
    threads: [{name: U1}]
programs:
  T1: [{mmap: a}, {write: a}, {write: a}, {read: a}]
  U1: [{mmap: b}, {write: b}, {fork: R}, {write: b}]
  R: [{read: b}, {write: b}]
"""


def test_reduction_shrinks_disjoint_processes(capsys: pytest.CaptureFixture[str]) -> None:
    from cowlab.scenario import load_check_config

    cfg = load_check_config(INDEPENDENT, source="<test>")
    full = run_check(cfg, kernel_at("v5.7"), reduce=False)
    reduced = run_check(cfg, kernel_at("v5.7"), reduce=True)
    assert full.result.outcome == reduced.result.outcome == "complete"
    assert reduced.result.stats.distinct < full.result.stats.distinct / 2
    with capsys.disabled():
        print(
            f"\n  independent v5.7: distinct states unreduced {full.result.stats.distinct}, "
            f"reduced {reduced.result.stats.distinct}"
        )


@pytest.mark.parametrize(
    ("kernel", "outcome"), [("v4.8", "violation"), ("v4.9", "complete"), ("v6.0", "complete")]
)
def test_dirty_cow_open(kernel: str, outcome: str) -> None:
    run = check("dirty-cow-open", kernel)
    assert run.result.outcome == outcome
    if outcome == "violation":
        assert run.result.violations[0].invariant == "file_isolation"
        assert run.reproduced


@pytest.mark.parametrize(
    ("kernel", "outcome"),
    [
        ("v5.10", "violation"),
        ("v5.10.3", "violation"),
        ("v5.10.4", "complete"),
        ("v5.10.262", "complete"),
        ("v5.11", "complete"),
        ("v6.2", "complete"),
    ],
)
def test_rdma_fork_gup_fast_open(kernel: str, outcome: str) -> None:
    """57efa1fe5957 (v5.11) came to 5.10.y in 5.10.4: 5.10.262's lockless_pages_from_mm()
    backs off while fork copies (found by the oracle's stops on 5.10.262, issue 15)."""
    run = check("rdma-fork-gup-fast-open", kernel)
    assert run.result.outcome == outcome
    if outcome == "violation":
        assert run.reproduced


SYMMETRIC = """
name: symmetric-scanners
machine: {nodes: 2, numa_balancing: true}
processes:
  - name: P
    threads: [{name: T1, node: 0}, {name: T2, node: 0}, {name: T3, node: 0}]
programs:
  T1:
    - {mmap: buf}
    - {write: buf}
    - {pin: buf, as: dma, flags: [FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM], fast: true}
    - {write: buf}
  T2: []
  T3: []
background: {numa_scan: 2, move: 1, lru_drain: 1}
"""


@pytest.mark.parametrize("kernel", ["v5.8", "v5.16"])
def test_symmetric_threads_share_states(kernel: str, capsys: pytest.CaptureFixture[str]) -> None:
    """T2 and T3 run the same (empty) program: states that differ only by which of them
    scanned or moved are one state.  Verdicts do not change."""
    from cowlab.scenario import load_check_config

    cfg = load_check_config(SYMMETRIC, source="<test>")
    assert CheckModel(cfg, kernel_at(kernel)).symmetry == (("T2", "T3"),)
    full = run_check(cfg, kernel_at(kernel), reduce=False)
    reduced = run_check(cfg, kernel_at(kernel), reduce=True)
    assert full.result.outcome == reduced.result.outcome
    if full.result.outcome == "complete":
        assert reduced.result.stats.distinct < full.result.stats.distinct
    else:
        assert len(reduced.result.trace) == len(full.result.trace) and reduced.reproduced
    with capsys.disabled():
        print(
            f"\n  symmetric-scanners {kernel}: {full.result.outcome}, distinct states "
            f"unreduced {full.result.stats.distinct}, reduced {reduced.result.stats.distinct}"
        )


STRESS = Path(__file__).parent / "configs" / "stress.yaml"
STRESS_THP = Path(__file__).parent / "configs" / "stress-thp.yaml"


@pytest.mark.parametrize(
    ("config", "kernel"),
    [
        (STRESS, "v4.8"),
        (STRESS, "v5.8"),
        (STRESS, "v5.12"),
        (STRESS, "v5.10.262"),
        (STRESS_THP, "v4.9"),
        (STRESS_THP, "v5.10.262"),
        (STRESS_THP, "v5.18"),
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_counterexamples_replay(config: Path, kernel: str, seed: int) -> None:
    """Whatever trace a random walk through every kind of action ends in, the emitted
    scenario replays to the same broken promise, and the model stays consistent."""
    from cowlab.scenario import load_check_config

    # bounded by states, not seconds, so that the outcome does not depend on the machine
    # (the seeded walk is deterministic); the time limit only guards against a hang
    run = run_check(
        load_check_config(config),
        kernel_at(kernel),
        strategy="random",
        seed=seed,
        limits=Limits(max_states=200_000, time_limit=300),
    )
    assert run.result.outcome == "violation"
    assert run.result.violations[0].invariant != "model_sanity"
    assert run.reproduced


def test_the_reported_peak_memory_counts_the_workers() -> None:
    """--workers N: the peak is the whole run's, each worker's high-water mark added to
    this process's (issue 13)."""
    from cowlab.check.result import peak_rss_mb

    run = run_check(load_named_config("gaudi-open"), kernel_at("v5.16"), workers=2)
    assert run.result.workers_peak_mb > 20  # two interpreters with the model loaded
    assert run.peak_mb >= peak_rss_mb() + run.result.workers_peak_mb - 1


def test_two_workers_give_one_answer_whatever_the_hash_seed() -> None:
    """Ownership and deduplication go by the stable fingerprint, and the counterexample
    is the one one process meets first (issue 13; tests/check/test_parallel_engines.py
    compares it with one process's)."""
    import json
    import os
    import subprocess
    import sys

    def run(seed: str) -> dict:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "cowlab",
                "check",
                "gaudi-open",
                "-k",
                "v5.16",
                "--workers",
                "2",
                "--json",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=False,
        )
        data = json.loads(out.stdout)
        return {
            "outcome": data["outcome"],
            "distinct": data["stats"]["distinct"],
            "transitions": data["stats"]["transitions"],
            "counterexample": data["counterexample"],
        }

    first = run("1")
    assert first["outcome"] == "violation"
    assert run("2") == first == run("3")


@pytest.mark.parametrize(
    ("kernel", "outcome"),
    [("v5.10.262", "complete"), ("v5.16", "complete"), ("v5.18", "violation"), ("v5.19", "complete")],
)
def test_gaudi_thp_open_breaks_only_on_v5_18(kernel: str, outcome: str) -> None:
    """The THP Gaudi race: the PMD path protects the pinned THP in every release, but
    only v5.18's refcount-based PMD write fault turns the read-only PMD into a copy."""
    run = check("gaudi-thp-open", kernel)
    assert run.result.outcome == outcome
    if outcome == "violation":
        assert run.reproduced
        texts = [str(e) for r in run.replay.steps for e in r.events]
        assert any("writable PMD migration entry -> readable" in t for t in texts)
        assert any("do_huge_pmd_wp_page: page_count 2 != 1 -> split" in t for t in texts)


@pytest.mark.parametrize(
    ("kernel", "depth"), [("v5.10.262", 12), ("v5.13", 12), ("v5.16", 25), ("v6.12", None)]
)
def test_gaudi_thp_fork_open(kernel: str, depth: int | None) -> None:
    """With a fork after the hinting fault: up to v5.13 the failed THP migration itself
    leaves the PMD read-only (no racing scan needed, 12 steps); v5.14-v5.18 need the
    second thread's scan (25 steps); PageAnonExclusive closes both."""
    run = check("gaudi-thp-fork-open", kernel)
    if depth is None:
        assert run.result.outcome == "complete"
        return
    assert run.result.outcome == "violation" and run.reproduced
    assert len(run.result.trace) == depth
    texts = [str(e) for r in run.replay.steps for e in r.events]
    assert any("copy_huge_pmd" in t and "split the PMD" in t for t in texts)


def test_no_numa_scan_while_a_fork_holds_the_mmap_lock() -> None:
    """task_numa_work() needs the mmap_lock: the checker offers no scan while another
    thread of the process is copying its page tables (a replayed counterexample would
    stop at that step, as it did before this was checked)."""
    from cowlab.kernel.frames import top
    from cowlab.model import state as S

    model = CheckModel(load_named_config("gaudi-thp-fork-open"), kernel_at("v5.16"))
    state = model.initial()

    def t1_stage() -> str:
        m = state.machine
        ti = next(ti for ti in range(S.nr_threads(m)) if S.task_name(m, ti) == "T1")
        return top(m, ti).stage if S.task_depth(m, ti) else ""

    for _ in range(30):  # T1 alone: mmap, write, pin, read, then into fork
        if t1_stage() == "fork.copy_page_range":
            break
        ts = model.transitions(state)
        state = model.step(
            state, next(t for t in ts if t.kind == "thread" and t.actor == "T1" and not t.choice)
        )[0]
    assert t1_stage() == "fork.copy_page_range"
    assert not [t for t in model.transitions(state) if t.kind == "numa_scan"]
