"""export_c for an instrumented kernel (issue 15): ``until:`` holds the thread at the
kernel's stop of that name, the controller waits for the hold and releases it at
``resume``, and numa_scan / lru_drain become the stops patch's triggers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.oracle import ExportError, export_c
from cowlab.oracle.program import Stop
from cowlab.oracle.stop_outcomes import reached_steps
from cowlab.oracle.translate import CONTROLLER, translate
from cowlab.scenario.catalog import load_builtin
from cowlab.scenario.loader import load_scenario, load_scenario_file
from tests.oracle.cc import GCC, compile_c, run_program

#: the checker's pin-after-scan trace on v5.10.262 (its header says how it was made)
COUNTEREXAMPLE = Path(__file__).parents[1] / "data" / "gaudi-open-counterexample.yaml"
#: the scenarios whose interleaving stops a thread inside the kernel
STOPPING = ("gaudi", "gaudi-affinity", "gaudi-no-numa-balancing", "gaudi-thp", "rdma-fork-gup-fast")


def test_gaudi_holds_t1_at_migrate_unmapped_while_t2_scans() -> None:
    program = translate(load_builtin("gaudi"), instrumented=True)
    assert program.stop_stages == ["migrate.unmapped"]
    by_label = {op.label: op for op in program.ops}
    read = by_label["steps[6] T1 read buf"]
    assert (read.thread, read.stop) == ("T1", Stop("migrate.unmapped", 1))
    # the controller waits for the hold before T2's scan, and releases T1 at resume
    order = [(op.thread, op.label) for op in program.ops]
    held = order.index((CONTROLLER, "steps[6] T1 read buf: T1 held at migrate.unmapped"))
    assert order[held - 1] == ("T1", "steps[6] T1 read buf")
    assert order[held + 1] == ("T2", "steps[7] T2 numa_scan")
    assert order[held + 2] == (CONTROLLER, "steps[8] T1 resume")
    assert by_label["steps[8] T1 resume"].body == ["stop_resume(0);"]
    assert by_label["steps[7] T2 numa_scan"].body == ["numa_scan_now(region[0], 1 * page_size);\t/* buf */"]
    assert by_label["steps[2] kernel lru_drain"].body == ['stops_trigger("lru_drain");']
    assert not program.approximations


def test_the_stopping_op_hands_the_baton_on_before_its_call() -> None:
    source = export_c(load_builtin("gaudi"), instrumented=True)
    op = source[source.index("/* steps[6] T1 read buf */") :].split("\n\n", 1)[0].splitlines()
    assert [line.strip() for line in op[1:]] == [
        "step_begin(0, 6);",
        'stop_arm(0, "migrate.unmapped", 1);',
        "step_end(6, 2);",
        "check_value(1, load64(ADDR(0, 0)), 1, KNOWN(1));",
        "stop_done(0);",
    ]
    assert "#define NEED_STOPS 1" in source


def test_without_numa_balancing_the_scan_is_nothing() -> None:
    program = translate(load_builtin("gaudi-no-numa-balancing"), instrumented=True)
    scans = [op for op in program.ops if op.label.endswith("numa_scan")]
    assert scans and all(
        op.body == ["/* NUMA balancing is off: task_numa_work() does not run */"] for op in scans
    )


def test_every_stopping_builtin_exports_instrumented() -> None:
    for name in STOPPING:
        program = translate(load_builtin(name), instrumented=True)
        assert program.stop_stages, name
        assert any(op.stop for op in program.ops), name


def test_a_checker_counterexample_with_choices_exports_with_notes() -> None:
    """--emit-scenario writes resume steps that stop again and choose a failed trylock:
    the program releases once and says what it cannot force."""
    program = translate(load_scenario_file(COUNTEREXAMPLE), instrumented=True)
    resumes = [op for op in program.ops if "resume" in op.label]
    assert [op.thread for op in resumes] == [CONTROLLER] + ["T1"] * 9
    assert resumes[0].body == ["stop_resume(0);"]
    assert program.approximations == [
        "steps[8] T1 resume: the model stops T1 again at migrate.isolated; here it runs to completion",
        "steps[9], steps[10], steps[11], steps[12], steps[13], steps[14], steps[15], steps[16], "
        "steps[17]: choose: trylock_fail is the model's choice inside the kernel; the real kernel "
        "takes its own path",
    ]


def test_a_held_thread_cannot_run_another_step() -> None:
    text = (
        "name: busy\nmachine: {nodes: 2, numa_balancing: true}\n"
        "processes:\n- name: P\n  threads:\n  - {name: T1, node: 0}\n  - {name: T2, node: 0}\n"
        "steps:\n- T1: {mmap: buf}\n- T1: {write: buf}\n- {T2: numa_scan}\n"
        "- T1: {read: buf, until: migrate.unmapped}\n- kernel: {move: T1, node: 1}\n- T1: resume\n"
    )
    with pytest.raises(ExportError) as info:
        translate(load_scenario(text, source="busy.yaml"), instrumented=True)
    assert info.value.problems == (
        "steps[4] kernel move: T1 is held in the kernel at migrate.unmapped: it cannot run this step",
    )


@pytest.mark.skipif(GCC is None, reason="needs gcc")
def test_on_a_kernel_without_stops_the_program_skips(tmp_path: Path) -> None:
    """rdma-fork-gup-fast needs one node: on this machine's stock kernel it compiles,
    runs and skips every check, saying it needs the stops."""
    exe = compile_c(export_c(load_builtin("rdma-fork-gup-fast"), instrumented=True), tmp_path / "prog")
    status, tap, out = run_program(exe)
    assert status == 4, out
    assert tap.verdict == "skip"
    assert "needs a kernel built with cowlab's stops" in out


def test_the_scheduler_does_not_move_a_thread_its_affinity_binds() -> None:
    """gaudi-affinity: the move of T1 to node 1 does nothing (sched_move), so its read
    finds the page local and nothing migrates."""
    program = translate(load_builtin("gaudi-affinity"), instrumented=True)
    [move] = [op for op in program.ops if op.label == "steps[5] kernel move T1"]
    assert move.body == ["/* T1 is bound to node 0: it stays there */"]
    assert program.nodes == [0]


def test_a_held_call_takes_effect_when_it_returns() -> None:
    """dirty-cow: T1's /proc/self/mem write is held at its second lookup while T2's
    MADV_DONTNEED drops the private copy; the write lands after the resume, in a new
    copy, so T1's read expects that write (the model reads #2 too), not the file."""
    program = translate(load_builtin("dirty-cow"), instrumented=True)
    labels = [op.label for op in program.ops]
    assert labels[:4] == [
        "steps[0] T1 mmap map",
        "steps[1] T1 proc_mem_write map",
        "steps[1] T1 proc_mem_write map: T1 held at gup.follow_page",
        "steps[2] T2 madvise map",
    ]
    # the model's second arrival at follow_page is its third call: the model runs the
    # first lookup with the write's start and counts from the retry
    assert program.ops[1].stop == Stop("gup.follow_page", 3)
    [read] = [c for c in program.checks if c.what == "steps[4] T1 read map"]
    assert read.desc == "steps[4] T1 read map reads token 2 (P proc_mem_write at steps[1])"


def test_two_held_steps_keep_their_order() -> None:
    """rdma-fork-gup-fast holds T1's fork, then T2's pin: each op keeps its place (the
    op of a held step is written at its resume), and the controller waits for each."""
    program = translate(load_builtin("rdma-fork-gup-fast"), instrumented=True)
    assert [(op.thread, op.label, op.stop) for op in program.ops[2:8]] == [
        ("T1", "steps[2] T1 fork C", Stop("fork.copy_page_range")),
        (CONTROLLER, "steps[2] T1 fork C: T1 held at fork.copy_page_range", None),
        ("T2", "steps[3] T2 pin buf", Stop("gup.follow_page")),
        (CONTROLLER, "steps[3] T2 pin buf: T2 held at gup.follow_page", None),
        (CONTROLLER, "steps[4] T1 resume", None),
        (CONTROLLER, "steps[5] T2 resume", None),
    ]


def test_where_the_model_runs_on_the_call_lands_at_its_step() -> None:
    """On v6.1.192 the model's Dirty COW write never reaches its second lookup (an
    exclusive anon page passes can_follow_write_pte, 5535be309971): the program for that
    kernel writes the call at its step, before MADV_DONTNEED, so the read expects the
    file's data again; it still arms the stop, to see whether the kernel stops there."""
    scenario = load_builtin("dirty-cow")
    reached = reached_steps(run_scenario(scenario, kernel_at("v6.1.192")))
    assert reached == frozenset()
    program = translate(scenario, instrumented=True, reached=reached)
    assert [op.label for op in program.ops[1:4]] == [
        "steps[1] T1 proc_mem_write map",
        "steps[1] T1 proc_mem_write map: T1 held at gup.follow_page",
        "steps[2] T2 madvise map",
    ]
    [read] = [c for c in program.checks if c.what == "steps[4] T1 read map"]
    assert read.desc == "steps[4] T1 read map reads token 1 (data of file passwd page 0)"
    assert reached_steps(run_scenario(scenario, kernel_at("v5.10.262"))) == {1}
