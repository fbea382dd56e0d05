"""MAP_SHARED file mappings and the filesystem kind: stores reach the page cache and
every mapping of the page sees them, fork shares the pages, and long-term write pins
of a file that writes back are refused from v6.5 (8ac268436e6d on the slow path,
a6e79df92e4a on the fast one); each rule on both sides of its commit, observed
through what processes read, the pin the device holds and the promises."""

from __future__ import annotations

import textwrap

import pytest

from cowlab.model import PresentPte, pte_view
from cowlab.model import state as S
from cowlab.scenario import ScenarioError, load_scenario
from tests.conftest import broken, loads, run_builtin, run_text

RW_PIN = "{pin: mem, as: dev, flags: [FOLL_PIN, FOLL_WRITE, FOLL_LONGTERM]"


def scenario(steps: str, *, fs: str = "ext4", processes: str = "P: [T1]") -> str:
    procs = []
    for entry in processes.split(";"):
        name, threads = entry.split(":")
        lines = "\n".join(f"      - {{name: {t.strip()}, node: 0}}" for t in threads.strip(" []").split(","))
        procs.append(f"  - name: {name.strip()}\n    threads:\n{lines}")
    return (
        "name: t\nmachine: {nodes: 1, numa_balancing: false}\n"
        f"files:\n  - {{name: f, pages: 1, fs: {fs}}}\n"
        "processes:\n" + "\n".join(procs) + "\n"
        f"steps:\n{textwrap.indent(textwrap.dedent(steps).strip(), '  ')}\n"
    )


def pin_held(result, name: str = "dev") -> bool:
    return S.ref_named(result.machine, name) >= 0


def pte(result, pid: int = 0, vpn: int = 0x100) -> PresentPte:
    view = pte_view(S.pte_at(result.machine, pid, vpn))
    assert isinstance(view, PresentPte)
    return view


def test_a_store_through_a_shared_mapping_is_what_every_mapping_of_the_page_reads() -> None:
    steps = """
        - T1: {mmap: a, file: f, shared: true}
        - T1: {mmap: b, file: f, shared: true}
        - T1: {mmap: p, file: f}
        - T1: {write: a}
        - T1: {read: b}
        - T1: {read: p}
    """
    result = run_text(scenario(steps), "v6.18")
    stored = loads(result)
    assert stored[0] == stored[1] != 0  # b and the private p (not yet copied) see a's store
    assert broken(result) == []


def test_fork_shares_a_shared_mapping_both_ways() -> None:
    steps = """
        - T1: {mmap: a, file: f, shared: true}
        - T1: {write: a}
        - T1: {fork: C}
        - C: {write: a}
        - T1: {read: a}
    """
    result = run_text(scenario(steps), "v5.10")
    assert broken(result) == []
    parent_pfn = pte(result, 0).pfn
    child_pfn = pte(result, 1).pfn
    assert parent_pfn == child_pfn == S.file_page_pfn(result.machine, 0, 0)


def test_a_private_store_never_reaches_the_shared_mapping() -> None:
    """cow.c's non-anon "Basic COW" with memfd: the private write copies the page."""
    steps = """
        - T1: {mmap: mem, file: f}
        - T1: {mmap: smem, file: f, shared: true, prot: r}
        - T1: {read: smem}
        - T1: {write: mem}
        - T1: {read: smem}
    """
    result = run_text(scenario(steps, fs="tmpfs"), "v6.18")
    before, after = loads(result)
    assert before == after and broken(result) == []


@pytest.mark.parametrize(("fs", "writable"), [("tmpfs", True), ("ext4", False)])
def test_a_read_fault_maps_writable_only_without_write_notification(fs: str, writable: bool) -> None:
    result = run_text(scenario("- T1: {mmap: a, file: f, shared: true}\n- T1: {read: a}", fs=fs), "v6.18")
    assert pte(result).write is writable


def test_a_write_to_a_clean_shared_page_faults_and_makes_it_writable_not_copied() -> None:
    steps = "- T1: {mmap: a, file: f, shared: true}\n- T1: {read: a}\n- T1: {write: a}"
    result = run_text(scenario(steps), "v6.18")
    assert pte(result).write and pte(result).pfn == S.file_page_pfn(result.machine, 0, 0)


@pytest.mark.parametrize(
    ("kernel", "revert", "held"),
    [("v6.4", (), True), ("v6.5", (), False), ("v6.5", ("8ac268436e6d",), True)],
)
def test_a_long_term_write_pin_of_a_shared_ext4_mapping_is_refused_from_8ac268436e6d(
    kernel: str, revert: tuple[str, ...], held: bool
) -> None:
    steps = f"- T1: {{mmap: mem, file: f, shared: true}}\n- T1: {{write: mem}}\n- T1: {RW_PIN}}}"
    result = run_text(scenario(steps), kernel, revert)
    assert pin_held(result) is held
    assert broken(result) == ([] if not held else ["file_pin_writeback"])


@pytest.mark.parametrize("fs", ["tmpfs"])
@pytest.mark.parametrize("kernel", ["v6.4", "v6.5"])
def test_tmpfs_and_private_mappings_keep_their_long_term_write_pins(fs: str, kernel: str) -> None:
    for shared in ("true", "false"):
        steps = f"- T1: {{mmap: mem, file: f, shared: {shared}}}\n- T1: {{write: mem}}\n- T1: {RW_PIN}}}"
        result = run_text(scenario(steps, fs=fs), kernel)
        assert pin_held(result) and broken(result) == []


@pytest.mark.parametrize(
    ("kernel", "revert", "held"),
    [("v6.4", (), True), ("v6.5", ("a6e79df92e4a",), True), ("v6.5", (), False)],
)
def test_gup_fast_falls_back_for_a_file_with_writeback_from_a6e79df92e4a(
    kernel: str, revert: tuple[str, ...], held: bool
) -> None:
    """Without a6e79df92e4a the fast path pins the page-cache page although the slow
    path (8ac268436e6d) would refuse it."""
    pin = RW_PIN + ", fast: true}"
    steps = f"- T1: {{mmap: mem, file: f, shared: true}}\n- T1: {{write: mem}}\n- T1: {pin}"
    result = run_text(scenario(steps), kernel, revert)
    assert pin_held(result) is held


def test_gup_longterm_family_predicts_the_selftest_table() -> None:
    """gup_longterm.c's expectation: a R/W pin fails exactly for a shared mapping of a
    filesystem with writeback; the model refuses it from v6.5."""
    for kernel, failing in (("v6.4", 2), ("v6.5", 0)):
        names = [
            f"gup-longterm-{case}-{backing}"
            for case in ("rw-pin-shared", "rw-fast-pin-shared", "ro-pin-shared", "rw-pin-private")
            for backing in ("memfd", "tmpfile", "local-tmpfile")
        ]
        bad = [n for n in names if broken(run_builtin(n, kernel))]
        assert len(bad) == failing, bad
        assert all(n.endswith("-shared-local-tmpfile") and "-rw-" in n for n in bad)


def test_map_shared_needs_a_file() -> None:
    text = scenario("- T1: {mmap: mem, shared: true}")
    with pytest.raises(ScenarioError, match=r"shared.*needs a file"):
        load_scenario(text, source="t.yaml")


def test_the_exporter_maps_a_shared_mapping_shared_never_private() -> None:
    from cowlab.oracle import export_c
    from cowlab.scenario.catalog import load_builtin

    source = export_c(load_builtin("gup-longterm-rw-pin-shared-memfd"))
    assert "do_mmap(1 * page_size, PROT_READ | PROT_WRITE, file_rw[0], MAP_KIND_SHARED);" in source
    assert "MAP_KIND_PRIVATE);" not in source.split("static void thread_0(void)")[1]


@pytest.mark.parametrize("kernel", ["v5.10", "v6.18"])
@pytest.mark.parametrize(("prot", "protnone"), [("r", False), ("rw", True)])
def test_the_numa_scan_passes_over_read_only_file_mappings(kernel: str, prot: str, protnone: bool) -> None:
    """task_numa_work: shared libraries take no hinting faults; a writable shared
    mapping of the same file does."""
    steps = f"- T1: {{mmap: a, file: f, shared: true, prot: {prot}}}\n- T1: {{read: a}}\n- T1: numa_scan"
    text = scenario(steps).replace("numa_balancing: false", "numa_balancing: true")
    # the page cache is on node 0; a task on node 1 would have it move
    text = text.replace("nodes: 1", "nodes: 2").replace("node: 0", "node: 1")
    result = run_text(text, kernel)
    assert pte(result).protnone is protnone
