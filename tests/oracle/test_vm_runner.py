"""The VM runner with fakes: a fake qemu (sleeps, panics, prints nothing, prints
TAP), marker splitting, and how VM outcomes become cells. No real qemu needed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from cowlab.oracle import kmod, race, runner
from cowlab.oracle.fetch import FetchError, KernelFiles, PackageMissing
from cowlab.oracle.kmod import ModuleBuild, ModuleError
from cowlab.oracle.vm import NO_OUTPUT, OK, PANIC, TIMEOUT, VmResult, boot, booted, split_output
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


BOOT_510 = (
    "=== cowlab boot 5.10.0-46-cloud-amd64 nodes=2\n"
    "=== cowlab version Linux version 5.10.0-46-cloud-amd64 (debian-kernel@lists.debian.org) "
    "(gcc-10 (Debian 10.2.1-6) 10.2.1 20210110) #1 SMP Debian 5.10.262-1 (2026-07-31)\n"
    "# swap: 1 numa_balancing: 1\n"
)
INSMOD_OK = "=== cowlab loading cowlab_pin\n=== cowlab insmod cowlab_pin status=0\n"


class FakeVm:
    """run_on_kernels with a fake kernel, module build, initramfs and boot."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str) -> None:
        if shutil.which("gcc") is None:
            pytest.skip("no gcc")
        self.seen: dict[str, object] = {}
        self.output = output
        self.files = KernelFiles(
            "5.10",
            "5.10.0-46-cloud-amd64",
            tmp_path / "vmlinuz",
            tmp_path / "modules",
            "5.10.262-1",
            "linux-image-5.10.0-46-cloud-amd64-unsigned",
        )
        self.ko = tmp_path / "cowlab_pin.ko"
        monkeypatch.setattr(race, "ensure_kernel", lambda version, cache: self.files)
        monkeypatch.setattr(runner, "build_module", self.build_module)
        monkeypatch.setattr(runner, "build_initramfs", self.build_initramfs)
        monkeypatch.setattr(runner, "boot", self.boot)
        self.module_error: ModuleError | None = None

    def build_module(self, files: KernelFiles, cache: Path, headers: object = None) -> ModuleBuild:
        if self.module_error is not None:
            raise self.module_error
        return ModuleBuild(self.ko, files.release, 1.0, False, "gcc-10 10.2.1-6")

    def build_initramfs(self, programs: dict[str, Path], out: Path, **kw: object) -> Path:
        self.seen.update(kw, programs=sorted(programs))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"")
        return out

    def boot(self, kernel: Path, initrd: Path, timeout: float, **kw: object) -> VmResult:
        self.seen["booted"] = True
        programs, finished = split_output(self.output)
        return VmResult(OK, Path("/x/console.log"), self.output, 1.0, programs, finished, booted(self.output))


def test_run_on_kernels_with_fake_vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = FakeVm(tmp_path, monkeypatch, BOOT_510 + INSMOD_OK + marked("iouring-mprotect", FAIL_TAP, 1))
    refused: list[str] = []
    cells = runner.run_on_kernels(
        [load_builtin("iouring-mprotect"), load_builtin("gaudi")],
        ["5.10"],
        workdir=tmp_path,
        on_refusal=lambda name, why: refused.append(name),
    )
    assert refused == ["gaudi"] and vm.seen["programs"] == ["iouring-mprotect"]
    assert vm.seen["modules"] == {"cowlab_pin": vm.ko} and vm.seen["env"] == {"COWLAB_PINS": "module"}
    [cell] = cells
    assert (cell.kernel, cell.model, cell.invariant, cell.real, cell.agree) == (
        "5.10",
        "broken",
        "pin_coherence",
        "fail",
        True,
    )
    assert (cell.booted, cell.release, cell.model_kernel) == (
        "5.10.262-1",
        "5.10.0-46-cloud-amd64",
        "v5.10.262",
    )
    assert cell.to_json()["booted"] == "5.10.262-1"


def test_a_program_without_pins_needs_no_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = FakeVm(tmp_path, monkeypatch, BOOT_510 + marked("cow-basic-fork-base", PASS_TAP))
    [cell] = runner.run_on_kernels([load_builtin("cow-basic-fork-base")], ["5.10"], workdir=tmp_path)
    assert vm.seen["modules"] == {} and (cell.real, cell.agree) == ("pass", True)


def test_module_build_failure_is_an_error_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = FakeVm(tmp_path, monkeypatch, BOOT_510 + marked("cow-basic-fork-base", PASS_TAP))
    vm.module_error = ModuleError(
        "build", "module build failed for Debian 5.10.262-1: error: x", tmp_path / "log"
    )
    pinned, plain = runner.run_on_kernels(
        [load_builtin("ro-pin-after-fork"), load_builtin("cow-basic-fork-base")], ["5.10"], workdir=tmp_path
    )
    assert (pinned.scenario, pinned.real, pinned.agree) == ("ro-pin-after-fork", "error", None)
    assert "cowlab_pin build: module build failed" in pinned.note and pinned.log == str(tmp_path / "log")
    # the other program still booted and gave its verdict; the one that needs the module did not run
    assert (plain.real, plain.agree) == ("pass", True) and vm.seen["programs"] == ["cow-basic-fork-base"]


def test_header_package_missing_is_an_error_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real build_module: the headers of this kernel are no longer served."""
    FakeVm(tmp_path, monkeypatch, BOOT_510)
    monkeypatch.setattr(runner, "build_module", kmod.build_module)
    monkeypatch.setattr(kmod, "apt_options", lambda branch, cache: [])

    def missing(package: str, version: str, opts: list[str]) -> list[str]:
        raise PackageMissing(f"apt knows no {package}={version}")

    monkeypatch.setattr(kmod, "_deb_depends", missing)
    [cell] = runner.run_on_kernels(
        [load_builtin("ro-pin-after-fork")], ["5.10"], workdir=tmp_path, cache_dir=tmp_path
    )
    assert (cell.real, cell.agree) == ("error", None)
    assert "header package missing for Debian 5.10.262-1" in cell.note
    assert "linux-headers-5.10.0-46-cloud-amd64=5.10.262-1" in cell.note


def test_insmod_refused_is_an_error_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = (
        "=== cowlab loading cowlab_pin\ninsmod: can't insert '/lib/cowlab_pin.ko': invalid module format\n"
        "[    2.1] cowlab_pin: disagrees about version of symbol module_layout\n"
        "=== cowlab insmod cowlab_pin status=1\n"
    )
    output = (
        BOOT_510 + refused + marked("ro-pin-after-fork", PASS_TAP) + marked("cow-basic-fork-base", PASS_TAP)
    )
    FakeVm(tmp_path, monkeypatch, output)
    pinned, plain = runner.run_on_kernels(
        [load_builtin("ro-pin-after-fork"), load_builtin("cow-basic-fork-base")], ["5.10"], workdir=tmp_path
    )
    assert (pinned.real, pinned.agree) == ("error", None)
    assert pinned.note.startswith("insmod cowlab_pin.ko refused (status 1): insmod: can't insert")
    assert "disagrees about version" in pinned.note
    assert (plain.real, plain.agree) == ("pass", True)


def test_another_kernel_than_asked_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = BOOT_510.replace("5.10.262-1", "5.10.251-1") + INSMOD_OK + marked("ro-pin-after-fork", PASS_TAP)
    FakeVm(tmp_path, monkeypatch, output)
    [cell] = runner.run_on_kernels([load_builtin("ro-pin-after-fork")], ["5.10"], workdir=tmp_path)
    assert (cell.real, cell.note) == ("error", "the guest runs Debian 5.10.251-1, not 5.10.262-1")


def test_io_uring_lever_needs_the_module_only_for_other_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = BOOT_510 + marked("iouring-mprotect", FAIL_TAP, 1)
    vm = FakeVm(tmp_path, monkeypatch, output)
    vm.module_error = ModuleError("build", "no module")
    rw, ro = runner.run_on_kernels(
        [load_builtin("iouring-mprotect"), load_builtin("ro-pin-after-fork")],
        ["5.10"],
        workdir=tmp_path,
        pins="uring",
    )
    assert (rw.real, rw.agree) == ("fail", True) and vm.seen["env"] == {"COWLAB_PINS": "uring"}
    assert (ro.real, ro.note) == ("error", "cowlab_pin build: no module")


def test_host_model_kernel() -> None:
    assert runner.host_model_kernel("6.1.192-cloud") == ("v6.1.192", "")
    kernel, note = runner.host_model_kernel("6.18.44-fc-v1300")
    assert kernel == "v6.18" and "the model has no v6.18.44" in note
    assert runner.host_model_kernel("2.6.32")[0] == ""


def test_fetch_failure_is_error_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")

    def no_kernel(version: str, cache: Path) -> KernelFiles:
        raise FetchError("apt-get download failed")

    monkeypatch.setattr(race, "ensure_kernel", no_kernel)
    [cell] = runner.run_on_kernels([load_builtin("iouring-mprotect")], ["6.12"], workdir=tmp_path)
    assert (cell.real, cell.agree, cell.model) == ("error", None, "holds") and "apt-get" in cell.note
    assert (cell.booted, cell.model_kernel) == ("", "v6.12.117")


def test_unknown_kernel() -> None:
    with pytest.raises(ValueError, match="unknown kernel"):
        runner.run_on_kernels([], ["4.19"])
