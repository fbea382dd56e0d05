"""Run scenarios on real kernels and compare with the model: one cell per
(scenario, kernel). Intended command: ``cowlab oracle run SCENARIO...
[--kernels 5.10,6.1,6.12,host] [--json]`` (docs/oracle.md).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.oracle.export import export_c
from cowlab.oracle.fetch import FetchError, cache_root, ensure_kernel, say
from cowlab.oracle.initramfs import PROGRAM_TIMEOUT_S, InitramfsError, build_initramfs
from cowlab.oracle.program import ExportError
from cowlab.oracle.tap import parse_tap
from cowlab.oracle.vm import OK, TIMEOUT, VmResult, boot
from cowlab.scenario import Scenario, ScenarioError

#: real kernel -> the modeled kernel it is compared with
MODEL_KERNEL = {"5.10": "v5.10.262", "6.1": "v6.1.192", "6.12": "v6.12.117", "host": "v6.12.117"}
DEFAULT_KERNELS = ("5.10", "6.1", "6.12")
#: exit status of an oracle program for each TAP verdict
EXIT_FOR = {"pass": 0, "fail": 1, "skip": 4}
#: seconds from qemu start to /init, generously (TCG)
BOOT_S = 60


@dataclass(frozen=True)
class Cell:
    scenario: str
    kernel: str
    #: holds / broken (error: the model refused the scenario)
    model: str
    #: the first promise the model says breaks
    invariant: str | None
    #: pass / fail / skip / error
    real: str
    #: None when the real side is skip or error
    agree: bool | None
    #: the console log, for errors from a VM
    log: str | None = None
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def model_verdict(scenario: Scenario, kernel: str) -> tuple[str, str | None]:
    try:
        result = run_scenario(scenario, kernel_at(MODEL_KERNEL[kernel]))
    except ScenarioError as e:  # an impossible step; a crash of the model must surface
        return "error", f"{type(e).__name__}: {e}"
    first = result.first
    return ("holds", None) if first is None else ("broken", first[1].invariant)


def compile_program(source: str, exe: Path) -> str | None:
    """gcc -static; None on success, else the compiler's complaint."""
    src = exe.with_suffix(".c")
    src.write_text(source)
    uring = Path("/usr/include/liburing.h").exists()
    cmd = ["gcc", "-Wall", "-O2", "-static", "-o", str(exe), str(src)]
    cmd += ["-luring", "-lpthread"] if uring else ["-DCOWLAB_NO_LIBURING", "-lpthread"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return None if proc.returncode == 0 else proc.stderr.strip()[-2000:]


def real_verdict(text: str, status: int | None) -> tuple[str, str]:
    """(verdict, note) from one program's TAP and exit status."""
    if status is None:
        return "error", "the program did not finish"
    tap = parse_tap(text)
    if tap.errors:
        return "error", "; ".join(tap.errors)[:500]
    if EXIT_FOR.get(tap.verdict) != status:
        return "error", f"exit status {status} but TAP says {tap.verdict}"
    return tap.verdict, ""


def make_cell(
    name: str,
    kernel: str,
    model: tuple[str, str | None],
    real: str,
    *,
    log: Path | None = None,
    note: str = "",
) -> Cell:
    verdict, invariant = model
    agree = None
    if real in ("pass", "fail") and verdict != "error":
        agree = (verdict == "broken") == (real == "fail")
    return Cell(
        name,
        kernel,
        verdict,
        invariant,
        real,
        agree,
        str(log) if log and real == "error" else None,
        note if verdict != "error" else f"model: {invariant}; {note}".strip("; "),
    )


def cells_from_vm(
    vm: VmResult, names: list[str], kernel: str, models: dict[str, tuple[str, str | None]]
) -> list[Cell]:
    """A panic makes every cell an error; a timeout or missing output those it cut short."""
    cells = []
    for name in names:
        out = vm.programs.get(name)
        if vm.status not in (OK, TIMEOUT):
            real, note = "error", f"VM {vm.status}"
        elif out is None:
            real, note = "error", f"no output (VM {vm.status})"
        else:
            real, note = real_verdict(out.text, out.status)
            if real == "error" and vm.status == TIMEOUT:
                note = f"VM timeout; {note}"
        cells.append(make_cell(name, kernel, models[name], real, log=vm.console, note=note))
    return cells


def run_host(
    programs: dict[str, Path], models: dict[str, dict[str, tuple[str, str | None]]], timeout: float
) -> list[Cell]:
    cells = []
    for name, exe in programs.items():
        try:
            proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout, check=False)
            real, note = real_verdict(proc.stdout, proc.returncode)
        except subprocess.TimeoutExpired:
            real, note = "error", f"timeout after {timeout:.0f} s"
        cells.append(make_cell(name, "host", models[name]["host"], real, note=note))
    return cells


def run_on_kernels(
    scenarios: Sequence[Scenario],
    kernels: Sequence[str] = DEFAULT_KERNELS,
    *,
    cache_dir: Path | None = None,
    workdir: Path | None = None,
    program_timeout: int = PROGRAM_TIMEOUT_S,
    on_refusal: Callable[[str, str], None] | None = None,
) -> list[Cell]:
    """Export, compile, boot once per kernel with every program, and compare with the model."""
    for k in kernels:
        if k not in MODEL_KERNEL:
            raise ValueError(f"unknown kernel {k!r}: one of {', '.join(MODEL_KERNEL)}")
    refuse = on_refusal or (lambda name, why: say(f"{name}: refused by export_c:\n{why}"))
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cowlab-oracle-"))
    bindir = workdir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    programs: dict[str, Path] = {}
    models: dict[str, dict[str, tuple[str, str | None]]] = {}
    cells: list[Cell] = []
    for scn in scenarios:
        try:
            source = export_c(scn)
        except ExportError as e:
            refuse(scn.name, "\n".join(e.problems))
            continue
        models[scn.name] = {k: model_verdict(scn, k) for k in kernels}
        problem = compile_program(source, bindir / scn.name)
        if problem:
            cells += [
                make_cell(scn.name, k, models[scn.name][k], "error", note=f"gcc: {problem}") for k in kernels
            ]
            continue
        programs[scn.name] = bindir / scn.name
    if not programs:
        return cells
    names = list(programs)
    for kernel in kernels:
        if kernel == "host":
            cells += run_host(programs, models, program_timeout + 10)
            continue
        kdir = workdir / kernel
        try:
            files = ensure_kernel(kernel, cache_dir or cache_root())
            initrd = build_initramfs(
                programs, kdir / "initramfs.cpio.gz", brd=files.brd(), timeout_s=program_timeout
            )
            say(f"booting {files.release} with {len(names)} program(s)")
            vm = boot(files.vmlinuz, initrd, BOOT_S + len(names) * (program_timeout + 5), workdir=kdir)
        except (FetchError, InitramfsError, OSError, subprocess.SubprocessError) as e:
            say(f"{kernel}: {e}")
            cells += [
                make_cell(n, kernel, models[n][kernel], "error", note=f"{type(e).__name__}: {e}")
                for n in names
            ]
            continue
        say(f"{files.release}: {vm.status} after {vm.seconds:.1f} s")
        cells += cells_from_vm(vm, names, kernel, {n: models[n][kernel] for n in names})
    return cells


def have_tools() -> bool:
    return all(shutil.which(t) for t in ("qemu-system-x86_64", "gcc", "cpio"))
