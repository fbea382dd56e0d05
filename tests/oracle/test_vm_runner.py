"""The VM runner with fakes: a fake qemu (sleeps, panics, prints nothing, prints
TAP), marker splitting, and how VM outcomes become cells. No real qemu needed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from cowlab.oracle import runner
from cowlab.oracle.fetch import FetchError, KernelFiles
from cowlab.oracle.vm import NO_OUTPUT, OK, PANIC, TIMEOUT, VmResult, boot, split_output
from cowlab.scenario.catalog import load_builtin

PASS_TAP = """TAP version 13
1..1
ok 1 - pin_coherence: fine
# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0
"""
FAIL_TAP = PASS_TAP.replace("ok 1", "not ok 1").replace("pass:1 fail:0", "pass:0 fail:1")


def fake_qemu(tmp_path: Path, console: str = "", output: str = "", sleep: float = 0) -> str:
    """A qemu stand-in writing ``console`` to the first -serial file, ``output`` to the second."""
    script = tmp_path / "fake-qemu"
    script.write_text(f"""#!{sys.executable}
import sys, time
files = [a[5:] for a in sys.argv if a.startswith("file:")]
open(files[0], "w").write({console!r})
open(files[1], "w").write({output!r})
time.sleep({sleep!r})
""")
    script.chmod(0o755)
    return str(script)


def run_fake(tmp_path: Path, timeout: float = 10, **kw: object) -> VmResult:
    qemu = fake_qemu(tmp_path, **kw)  # type: ignore[arg-type]
    return boot(tmp_path / "vmlinuz", tmp_path / "initrd", timeout, workdir=tmp_path / "vm", qemu=qemu)


def marked(name: str, body: str, status: int | None = 0) -> str:
    end = "" if status is None else f"=== cowlab end {name} status={status}\r\n"
    return f"=== cowlab begin {name}\r\n" + body.replace("\n", "\r\n") + end


def test_split_output_by_markers() -> None:
    text = "=== cowlab boot x\n" + marked("a", PASS_TAP) + marked("b", FAIL_TAP, 1)
    text += marked("c", "TAP ver", None)
    programs, finished = split_output(text.replace("\r", ""))
    assert not finished
    assert programs["a"].text == PASS_TAP and programs["a"].status == 0
    assert programs["b"].status == 1 and "not ok 1" in programs["b"].text
    assert programs["c"].status is None and programs["c"].text.startswith("TAP ver")


def test_split_begin_without_end_is_cut_short() -> None:
    programs, _ = split_output(marked("a", "x\n", None) + marked("b", PASS_TAP) + "=== cowlab done\n")
    assert programs["a"].status is None and programs["b"].status == 0


def test_boot_ok(tmp_path: Path) -> None:
    output = marked("a", PASS_TAP) + "=== cowlab done\r\n"
    vm = run_fake(tmp_path, console="Linux version 6.1\n", output=output)
    assert vm.status == OK and vm.finished
    assert vm.programs["a"].text == PASS_TAP
    assert vm.console == tmp_path / "vm" / "console.log"
    cmd = (tmp_path / "vm" / "qemu.cmd").read_text()
    assert "tcg,thread=multi" in cmd and "-no-reboot" in cmd and cmd.count("-numa") == 2


def test_boot_timeout_kills(tmp_path: Path) -> None:
    vm = run_fake(
        tmp_path, timeout=1, output=marked("a", PASS_TAP) + marked("b", "TAP version 13\n", None), sleep=30
    )
    assert vm.status == TIMEOUT and vm.seconds < 10
    assert vm.programs["a"].status == 0 and vm.programs["b"].status is None


def test_boot_panic(tmp_path: Path) -> None:
    vm = run_fake(
        tmp_path,
        console="BUG: oops\nKernel panic - not syncing: Fatal exception\n",
        output=marked("a", PASS_TAP),
    )
    assert vm.status == PANIC


def test_boot_no_output(tmp_path: Path) -> None:
    assert run_fake(tmp_path, console="Linux version 6.1\n").status == NO_OUTPUT


def vm_result(status: str, output: str) -> VmResult:
    programs, finished = split_output(output)
    return VmResult(status, Path("/x/console.log"), output, 1.0, programs, finished)


MODELS = {"a": ("holds", None), "b": ("broken", "pin_coherence"), "c": ("holds", None)}


def test_cells_ok() -> None:
    vm = vm_result(OK, marked("a", PASS_TAP) + marked("b", FAIL_TAP, 1) + marked("c", FAIL_TAP, 0))
    a, b, c = runner.cells_from_vm(vm, ["a", "b", "c"], "6.1", MODELS)
    assert (a.real, a.agree, a.log) == ("pass", True, None)
    assert (b.model, b.invariant, b.real, b.agree) == ("broken", "pin_coherence", "fail", True)
    assert (c.real, c.agree, c.log) == ("error", None, "/x/console.log")  # status disagrees with TAP


def test_cells_panic_are_all_errors() -> None:
    vm = vm_result(PANIC, marked("a", PASS_TAP) + marked("b", FAIL_TAP, 1))
    cells = runner.cells_from_vm(vm, ["a", "b", "c"], "6.1", MODELS)
    assert [c.real for c in cells] == ["error"] * 3 and all(c.agree is None for c in cells)
    assert all(c.log == "/x/console.log" and "panic" in c.note for c in cells)


def test_cells_timeout_and_missing() -> None:
    vm = vm_result(TIMEOUT, marked("a", PASS_TAP) + marked("b", "TAP version 13\n1..1\n", None))
    a, b, c = runner.cells_from_vm(vm, ["a", "b", "c"], "6.1", MODELS)
    assert a.real == "pass" and b.real == "error" and c.real == "error"
    assert "timeout" in b.note and "no output" in c.note
    vm = vm_result(NO_OUTPUT, "")
    assert [x.real for x in runner.cells_from_vm(vm, ["a"], "6.1", MODELS)] == ["error"]


def test_agree_disagree() -> None:
    cell = runner.make_cell("x", "6.1", ("holds", None), "fail")
    assert cell.agree is False
    assert runner.make_cell("x", "6.1", ("broken", "no_lost_write"), "skip").agree is None


def test_run_on_kernels_with_fake_vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    seen: dict[str, object] = {}

    def fake_build(programs: dict[str, Path], out: Path, **kw: object) -> Path:
        seen["programs"] = sorted(programs)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"")
        return out

    def fake_boot(kernel: Path, initrd: Path, timeout: float, **kw: object) -> VmResult:
        return vm_result(OK, marked("iouring-mprotect", FAIL_TAP, 1) + "=== cowlab done\n")

    files = KernelFiles("5.10", "5.10.0-46-cloud-amd64", tmp_path / "vmlinuz", tmp_path / "modules")
    monkeypatch.setattr(runner, "ensure_kernel", lambda version, cache: files)
    monkeypatch.setattr(runner, "build_initramfs", fake_build)
    monkeypatch.setattr(runner, "boot", fake_boot)
    refused: list[str] = []
    cells = runner.run_on_kernels(
        [load_builtin("iouring-mprotect"), load_builtin("gaudi")],
        ["5.10"],
        workdir=tmp_path,
        on_refusal=lambda name, why: refused.append(name),
    )
    assert refused == ["gaudi"] and seen["programs"] == ["iouring-mprotect"]
    [cell] = cells
    assert (cell.kernel, cell.model, cell.invariant, cell.real, cell.agree) == (
        "5.10",
        "broken",
        "pin_coherence",
        "fail",
        True,
    )


def test_fetch_failure_is_error_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")

    def no_kernel(version: str, cache: Path) -> KernelFiles:
        raise FetchError("apt-get download failed")

    monkeypatch.setattr(runner, "ensure_kernel", no_kernel)
    [cell] = runner.run_on_kernels([load_builtin("iouring-mprotect")], ["6.12"], workdir=tmp_path)
    assert (cell.real, cell.agree, cell.model) == ("error", None, "holds") and "apt-get" in cell.note


def test_unknown_kernel() -> None:
    with pytest.raises(ValueError, match="unknown kernel"):
        runner.run_on_kernels([], ["4.19"])
