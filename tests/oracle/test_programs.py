"""The exported C compiles with gcc -Wall -Werror; the programs that need no
privileges, NUMA or swap run here and print well-formed TAP."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cowlab.oracle import ExportError, export_c
from cowlab.oracle.render import render
from cowlab.oracle.translate import translate
from cowlab.scenario.catalog import builtin_names, load_builtin
from tests.oracle.cc import GCC, compile_c, run_checked, run_program
from tests.oracle.scenarios import NUMA, PROCESSES, load
from tests.oracle.test_export import pin_source

pytestmark = pytest.mark.skipif(GCC is None, reason="needs gcc")

#: built-ins whose programs run anywhere: what the machine lacks (gup_test, swap,
#: pagemap PFNs as non-root, io_uring) they SKIP by themselves
RUNNABLE = (
    "cow-basic-fork-base",
    "cow-basic-fork-swap",
    "vmsplice-child",
    "iouring-mprotect",
    "rdma-fork",
    "dirty-cow",
    "clear-refs-pin",
    "cow-vmsplice-unmap-parent-base",
    "cow-ro-pin-shared-base",
    "cow-basic-fork-mremap-thp",
    "cow-non-anon-basic-cow-memfd",
    "gup-longterm-iouring-private-memfd",
)
#: hold on every kernel this project can boot (5.10+): a failure is an oracle bug
MUST_HOLD = ("cow-basic-fork-base", "vmsplice-child", "cow-vmsplice-unmap-parent-base", "dirty-cow")


def exportable() -> dict[str, str]:
    sources = {}
    for name in builtin_names():
        try:
            sources[name] = export_c(load_builtin(name))
        except ExportError:
            continue
    return sources


def code_shapes(name: str) -> frozenset[str]:
    """What of a program's C can differ from another's beyond its constants: each
    statement of its steps with numbers and strings blanked, and which NEED_* and
    table sizes are zero (an empty table, a runtime part compiled in or not)."""
    program = translate(load_builtin(name))
    statements = {
        re.sub(r"\d+", "N", re.sub(r'"(?:[^"\\]|\\.)*"', "S", line))
        for op in program.ops
        for line in op.body
        if not line.startswith("/*")
    }
    defines = re.findall(r"^#define (\w+) (\d+)$", render(program), re.M)
    return frozenset(statements | {f"{k}={int(v) > 0}" for k, v in defines})


def representatives(names: list[str]) -> list[str]:
    """Few programs that together hold every code shape of all of them (greedy): the
    default run compiles these, the slow run every one."""
    shapes = {n: code_shapes(n) for n in names}
    missing = set().union(*shapes.values())
    chosen: list[str] = []
    while missing:
        best = max(names, key=lambda n: len(shapes[n] & missing))
        chosen.append(best)
        missing -= shapes[best]
    return chosen


def compile_all(names: list[str], out: Path) -> dict[str, Path]:
    sources = exportable()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        exes = pool.map(lambda n: compile_c(sources[n], out / n), names)
        return dict(zip(names, exes, strict=True))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The programs that cover every code shape of the exportable built-ins, and the
    runnable ones, compiled (in parallel)."""
    names = sorted(set(representatives(sorted(exportable()))) | set(RUNNABLE))
    return compile_all(names, tmp_path_factory.mktemp("oracle"))


def test_every_code_shape_compiles(built: dict[str, Path]) -> None:
    """Every statement the exporter emits for a built-in, and every runtime part a
    NEED_* switches on, compiles -Wall -Werror in at least one program."""
    shapes = set().union(*(code_shapes(n) for n in built))
    assert shapes >= set().union(*(code_shapes(n) for n in exportable()))
    assert all(exe.is_file() for exe in built.values())


@pytest.mark.slow
def test_every_exported_builtin_compiles(tmp_path: Path) -> None:
    """All of them (about 40 s on two cores; the default run compiles a cover)."""
    names = sorted(exportable())
    built = compile_all(names, tmp_path)
    assert all(built[n].is_file() for n in names)


@pytest.mark.parametrize("name", RUNNABLE)
def test_run(built: dict[str, Path], name: str) -> None:
    tap = run_checked(built[name])
    assert tap.plan == len(tap.tests) > 0
    if name in MUST_HOLD:
        assert tap.verdict == "pass", tap.tests
    if name == "iouring-mprotect" and tap.verdict != "skip" and os.geteuid() == 0:
        assert tap.tests[2].status in ("ok", "not ok")  # the PFN check ran as root


def test_without_liburing_the_pins_skip(tmp_path: Path) -> None:
    exe = compile_c(export_c(load_builtin("iouring-mprotect")), tmp_path / "nouring", uring=False)
    status, tap, out = run_program(exe)
    assert (status, tap.verdict, tap.errors) == (4, "skip", ()), out
    assert all("without liburing" in t.reason for t in tap.tests.values())


@pytest.mark.parametrize(
    ("flags", "prot", "fast", "why"),
    [
        ("[FOLL_GET, FOLL_WRITE]", "rw", True, "needs the cowlab_pin module: no /dev/cowlab_pin"),
        ("[FOLL_PIN, FOLL_LONGTERM]", "rw", False, "R/O pins need the cowlab_pin module or"),
        # io_uring instead, which cannot register a read-only mapping
        ("[FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM]", "r", False, "io_uring_register_buffers"),
    ],
)
def test_module_pins_compile_and_skip_without_the_module(
    tmp_path: Path, flags: str, prot: str, fast: bool, why: str
) -> None:
    """Pins of every kind: -Wall -Werror clean, and SKIP where the module is not loaded."""
    exe = compile_c(pin_source(flags, prot=prot, fast=fast), tmp_path / "pin")
    if os.path.exists("/dev/cowlab_pin"):
        pytest.skip("the cowlab_pin module is loaded here")
    status, tap, out = run_program(exe)
    assert (status, tap.verdict, tap.errors) == (4, "skip", ()), out
    assert why in tap.tests[1].reason, out


def test_processes_threads_forks_and_exits(tmp_path: Path) -> None:
    tap = run_checked(compile_c(export_c(load(PROCESSES)), tmp_path / "processes"))
    assert tap.verdict == "pass", tap.tests
    assert len(tap.tests) == 7


def test_numa(tmp_path: Path) -> None:
    exe = compile_c(export_c(load(NUMA)), tmp_path / "numa")
    nodes = [n for n in os.listdir("/sys/devices/system/node") if re.fullmatch(r"node\d+", n)]
    if len(nodes) < 2 or os.geteuid() != 0:
        pytest.skip("running it needs two NUMA nodes and root")
    run_checked(exe)


def test_a_wrong_value_is_a_failure(tmp_path: Path) -> None:
    """Expect a token the child never saw: no_lost_write fails, exit status 1."""
    source = export_c(load_builtin("cow-basic-fork-base"))
    wrong = source.replace(
        "check_value(1, load64(ADDR(0, 0)), 1, KNOWN(1));", "check_value(1, load64(ADDR(0, 0)), 0, KNOWN(1));"
    )
    assert wrong != source
    status, tap, out = run_program(compile_c(wrong, tmp_path / "wrong"))
    assert tap.errors == () and status == 1, out
    assert tap.failed == [1] and tap.tests[1].promise == "no_lost_write"
    assert "saw token 1 (P write at steps[1]), but the last write there was zero" in out


def test_a_foreign_token_is_a_leak(tmp_path: Path) -> None:
    """A token the reader may not see is reported as fork_isolation, as the model does."""
    source = export_c(load_builtin("cow-basic-fork-base"))
    leaky = source.replace("HELPER const int known_1[] = { 0, 1 };", "HELPER const int known_1[] = { 0 };")
    assert leaky != source
    status, tap, out = run_program(compile_c(leaky, tmp_path / "leaky"))
    assert tap.errors == () and status == 1, out
    assert tap.failed == [1] and tap.tests[1].promise == "fork_isolation"


def test_a_stuck_step_is_an_error_not_a_pass(tmp_path: Path) -> None:
    """The baton is never handed on: the coordinator gives up after the timeout and
    reports every test left as an error."""
    source = export_c(load_builtin("cow-basic-fork-base"))
    stuck = source.replace("\tstep_end(3, 0);\n", "\t/* lost */\n", 1)
    assert stuck != source
    exe = compile_c(stuck, tmp_path / "stuck", defines=("COWLAB_TIMEOUT_S=1",))
    status, tap, out = run_program(exe, timeout=30)
    assert tap.errors == () and status == 1, out
    assert tap.passed == [1] and [t.status for t in tap.tests.values()] == ["ok", "error"]
    # the last step to take the baton is the one named
    assert tap.tests[2].reason == "steps[3] C read mem did not complete within 1 s"
