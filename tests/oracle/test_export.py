"""export_c: what each scenario becomes, and what is refused (no compiler needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cowlab.oracle
from cowlab.oracle import ExportError, approximations, export_c
from cowlab.scenario import ClearRefs, MachineSpec, ProcessSpec, Scenario, Step, ThreadSpec
from cowlab.scenario.catalog import builtin_names, load_builtin
from tests.oracle.scenarios import NUMA, PROCESSES, RECLAIM, REFUSED, load

PROBLEM = re.compile(r"steps\[\d+\] \S+ [a-z_]+: .+")


def test_every_builtin_exports_or_is_refused_by_step() -> None:
    exported = []
    for name in builtin_names():
        try:
            source = export_c(load_builtin(name))
        except ExportError as exc:
            assert exc.problems, name
            assert all(PROBLEM.fullmatch(p) for p in exc.problems), exc.problems
            continue
        assert source.count("int main(void)") == 1
        exported.append(name)
    for name in (
        "vmsplice-child",
        "iouring-mprotect",
        "rdma-fork",
        "dirty-cow",
        "clear-refs-pin",
        "cow-basic-fork-base",
        "ro-pin-after-fork",
        "iouring-swap",
    ):
        assert name in exported


def test_gaudi_is_refused_at_the_stop_inside_migration() -> None:
    with pytest.raises(ExportError) as info:
        export_c(load_builtin("gaudi"))
    assert info.value.problems == (
        "steps[6] T1 read: until: migrate.unmapped stops inside a NUMA migration, where only a "
        "kernel built with cowlab's stops can hold a thread (export it instrumented)",
    )
    assert "gaudi cannot be exported" in str(info.value)


def test_every_refused_step_is_named() -> None:
    with pytest.raises(ExportError) as info:
        export_c(load(REFUSED))
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "steps[2] device dma_write",
        "steps[4] T1 read",
        "steps[5] T1 mmap",
        "steps[6] T1 write",
    ]
    assert "R/O pin: the device never writes through it" in problems[0]
    assert "SIGSEGV" in problems[1]
    assert "choose: trylock_fail" in problems[2]
    assert "until: migrate.isolated" in problems[3]


def test_an_unknown_option_is_refused_not_dropped() -> None:
    scenario = Scenario(
        "opt",
        MachineSpec(1, False),
        (ProcessSpec("P", (ThreadSpec("T1"),)),),
        (Step("T1", ClearRefs("other")),),
    )
    with pytest.raises(ExportError, match=r"steps\[0\] T1 clear_refs: option what='other'"):
        export_c(scenario)


def test_expectations_follow_the_model_promises() -> None:
    """The child reads the parent's pre-fork token; after the parent's second write
    its known tokens still exclude that write (a leak would be fork_isolation)."""
    source = export_c(load_builtin("cow-basic-fork-base"))
    assert "check_value(1, load64(ADDR(0, 0)), 1, KNOWN(1));" in source
    assert "check_value(2, load64(ADDR(0, 0)), 1, KNOWN(2));" in source
    assert "HELPER const int known_2[] = { 0, 1 };" in source
    assert '"steps[5] C read mem reads token 1 (P write at steps[1])",' in source


def test_pins_get_a_data_check_and_a_page_identity_check() -> None:
    source = export_c(load_builtin("rdma-fork"))
    rw = '"FOLL_PIN|FOLL_WRITE|FOLL_LONGTERM"'
    assert f"pin_step(&pin[0], ADDR(0, 0), COWLAB_PIN_WRITE | COWLAB_PIN_LONGTERM, {rw});" in source
    assert "dma_write(&pin[0], tokval(3));" in source
    assert "check_value(1, load64(ADDR(0, 0)), 3, KNOWN(1));" in source
    assert "check_pfn(3, &pin[0], ADDR(0, 0), 1);" in source
    assert '"at the end, pin mr still holds the page P maps at buf[0]",' in source
    ro = export_c(load_builtin("ro-pin-after-fork"))
    assert 'pin_step(&pin[0], ADDR(0, 0), COWLAB_PIN_LONGTERM, "FOLL_PIN|FOLL_LONGTERM");' in ro
    assert "check_pfn(" not in ro.split("int main")[1]
    assert '"ro_pin_coherence",' in ro


def test_numa_levers() -> None:
    scenario = load(NUMA)
    source = export_c(scenario)
    assert "numa_scan();" in source and "place_self(1);" in source
    assert "#define NEED_NUMA_SCAN 1" in source and "#define NUMA_SCANS 1" in source
    assert "HELPER const int needed_nodes[] = {\n\t0,\n\t1,\n\t-1,\n};" in source
    notes = approximations(scenario)
    assert any("lru_add_drain_all" in n for n in notes)
    assert any("task_numa_work" in n for n in notes)
    # the module takes the pin as the scenario says: forced, long-term, GUP-fast
    assert "COWLAB_PIN_WRITE | COWLAB_PIN_FORCE | COWLAB_PIN_LONGTERM | COWLAB_PIN_FAST" in source
    assert not any("FOLL_FORCE" in n for n in notes)
    # the unpin compares page identity before it releases the pin
    assert source.index("check_pfn(4, &pin[0]") < source.index("unpin(&pin[0]);")


def test_stops_that_are_approximated_say_so() -> None:
    source = export_c(load_builtin("dirty-cow"))
    assert (
        "/* APPROXIMATE: steps[1] T1 proc_mem_write map: the model stops it at "
        "gup.follow_page (arrival 2)" in source
    )
    assert "proc_mem_write(ADDR(0, 0), tokval(2));" in source
    assert 'make_file(0, "passwd", 1, file_0_tokens, 1, 0);' in source
    assert "check_file(2, 0, 1, file_0_final);" in source


def test_processes_and_exits() -> None:
    source = export_c(load(PROCESSES))
    assert "if (do_fork(1) == 0) {\n\t\tstart_thread(2);\n\t\tchild_idle();\n\t}" in source
    assert "step_end_exit(14, 0);" in source  # D exits for real, then T1 (thread 0) goes on
    assert "its exit is emulated" in source
    assert approximations(load(PROCESSES)) == (
        "steps[15] T1 exit: P is the test program itself, so its exit is emulated: unmap every "
        "region, release its pins, close its pipes",
    )


def test_reclaim_is_pageout_from_the_owner() -> None:
    scenario = load(RECLAIM)
    source = export_c(scenario)
    assert "do_pageout(ADDR(0, 0), 1, 0);" in source and "#define NEED_SWAP 1" in source
    assert "/* the operation already ran to completion */" in source
    notes = approximations(scenario)
    assert any("reclaim is MADV_PAGEOUT from P's thread" in n for n in notes)
    assert any("stops it at reclaim.unmapped" in n for n in notes)


PIN = """
name: pin-flags
machine: {nodes: 1, numa_balancing: false}
processes:
  - name: P
    threads:
      - {name: T1}
steps:
  - T1: {mmap: buf, prot: PROT}
  - T1: {pin: buf, as: p, flags: FLAGS, fast: FAST}
  - device: {dma_read: p}
  - T1: {unpin: p}
"""


def pin_source(flags: str, *, prot: str = "rw", fast: bool = False) -> str:
    text = PIN.replace("PROT", prot).replace("FLAGS", flags).replace("FAST", str(fast).lower())
    return export_c(load(text))


@pytest.mark.parametrize(
    ("flags", "fast", "module"),
    [
        ("[FOLL_PIN, FOLL_LONGTERM]", False, "COWLAB_PIN_LONGTERM"),
        ("[FOLL_PIN, FOLL_LONGTERM]", True, "COWLAB_PIN_LONGTERM | COWLAB_PIN_FAST"),
        ("[FOLL_PIN, FOLL_WRITE]", False, "COWLAB_PIN_WRITE"),
        ("[FOLL_GET, FOLL_WRITE]", True, "COWLAB_PIN_WRITE | COWLAB_PIN_GET | COWLAB_PIN_FAST"),
        ("[FOLL_GET]", False, "COWLAB_PIN_GET"),
        ("[FOLL_PIN, FOLL_FORCE, FOLL_LONGTERM]", False, "COWLAB_PIN_FORCE | COWLAB_PIN_LONGTERM"),
    ],
)
def test_pin_flags_reach_the_module(flags: str, fast: bool, module: str) -> None:
    source = pin_source(flags, fast=fast)
    assert f"pin_step(&pin[0], ADDR(0, 0), {module}, " in source
    assert "pin_step(" in source and "check_dma(1, &pin[0]" in source


def test_a_forced_write_pin_on_a_read_only_mapping() -> None:
    flags = "[FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM]"
    assert "COWLAB_PIN_WRITE | COWLAB_PIN_FORCE | COWLAB_PIN_LONGTERM," in pin_source(flags, prot="r")
    with pytest.raises(ExportError, match="without FOLL_FORCE: GUP fails"):
        pin_source("[FOLL_PIN, FOLL_WRITE, FOLL_LONGTERM]", prot="r")


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        ("[FOLL_GET, FOLL_WRITE, FOLL_LONGTERM]", "FOLL_LONGTERM needs FOLL_PIN"),
        ("[FOLL_GET, FOLL_PIN]", "exclude each other"),
        ("[FOLL_WRITE, FOLL_LONGTERM]", "FOLL_PIN or FOLL_GET"),
    ],
)
def test_pins_no_kernel_takes_are_refused(flags: str, why: str) -> None:
    with pytest.raises(ExportError, match=why):
        pin_source(flags)


def test_every_program_carries_the_module_interface_verbatim() -> None:
    header = (Path(cowlab.oracle.__file__).parent / "module" / "cowlab_pin_abi.h").read_text()
    assert header in export_c(load_builtin("ro-pin-after-fork"))
    assert "#define COWLAB_PIN_ABI 1" in header
