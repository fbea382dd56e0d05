"""Run scenarios on real kernels and compare with the model: one cell per
(scenario, kernel), the model taken at exactly the version booted.  Command:
``cowlab oracle run SCENARIO... [--kernels 5.10,6.1,6.12,host] [--json]``
(docs/oracle.md).
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.history.kernel import UnknownKernelError
from cowlab.oracle.fetch import FetchError, KernelFiles, cache_root, parse_kernel, say
from cowlab.oracle.initramfs import PROGRAM_TIMEOUT_S, InitramfsError, build_initramfs
from cowlab.oracle.kmod import ModuleError, build_module
from cowlab.oracle.program import ExportError, Program
from cowlab.oracle.race import BUILT, model_label, resolve
from cowlab.oracle.render import render
from cowlab.oracle.stop_outcomes import kernel_stops, model_stops, reached_steps
from cowlab.oracle.tap import parse_tap
from cowlab.oracle.translate import translate
from cowlab.oracle.vm import OK, TIMEOUT, VmResult, boot
from cowlab.scenario import Scenario, ScenarioError

#: kernel asked for -> the model's kernel when the booted one is exactly the version the
#: model knows as Debian's (``run_on_kernels`` compares with the booted version itself)
MODEL_KERNEL = {"5.10": "v5.10.262", "6.1": "v6.1.192", "6.12": "v6.12.117"}
DEFAULT_KERNELS = ("5.10", "6.1", "6.12")
#: exit status of an oracle program for each TAP verdict
EXIT_FOR = {"pass": 0, "fail": 1, "skip": 4}
#: seconds from qemu start to /init, generously (TCG)
BOOT_S = 60
#: the pinning module (cowlab.oracle.kmod)
PIN_MODULE = "cowlab_pin"
#: pins= of run_on_kernels: every pin through the module, or R/W long-term ones through io_uring
PIN_LEVERS = ("module", "uring")


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
    #: the Debian package version booted ("" for the host, or when nothing booted)
    booted: str = ""
    #: ``uname -r`` of the kernel the program ran on
    release: str = ""
    #: the model's kernel it was compared with: the booted version, e.g. v6.1.192
    model_kernel: str = ""
    #: instrumented runs: where each held thread stopped (stop_outcomes), model and kernel
    model_stops: tuple[str, ...] = ()
    real_stops: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class ModelOutcome(NamedTuple):
    """What one replay of the model says about a scenario on one kernel."""

    #: holds / broken / error
    verdict: str
    #: the first promise broken, or what went wrong (error)
    invariant: str | None
    #: where its held threads stopped (stop_outcomes.model_stops)
    stops: tuple[str, ...] = ()
    #: the steps whose stop it reaches (None: no answer), translate's ``reached``
    reached: frozenset[int] | None = None


def model_verdict(scenario: Scenario, kernel: str, reverts: Sequence[str] = ()) -> tuple[str, str | None]:
    """The model's verdict on ``kernel``: a model kernel (``v6.1.192``), or for
    compatibility a label of MODEL_KERNEL; with a build's reverts."""
    outcome = model_outcome(scenario, kernel, reverts)
    return outcome.verdict, outcome.invariant


def model_outcome(scenario: Scenario, kernel: str, reverts: Sequence[str] = ()) -> ModelOutcome:
    """The verdict, the first promise broken, where its held threads stopped and which
    stops it reaches: one replay."""
    name = MODEL_KERNEL.get(kernel, kernel)
    try:
        model = kernel_at(name, tuple(reverts))
    except UnknownKernelError as e:
        return ModelOutcome("error", f"the model has no kernel {name}: {e}")
    try:
        result = run_scenario(scenario, model)
    except ScenarioError as e:  # an impossible step; a crash of the model must surface
        return ModelOutcome("error", f"{type(e).__name__}: {e}")
    first = result.first
    verdict, invariant = ("holds", None) if first is None else ("broken", first[1].invariant)
    return ModelOutcome(verdict, invariant, model_stops(result), reached_steps(result))


def instrumented_programs(
    exported: dict[str, tuple[Scenario, Program]], outcomes: dict[str, ModelOutcome], bindir: Path
) -> tuple[dict[str, Path], dict[str, str]]:
    """The programs for one instrumented kernel: each defers what a held call does only
    where the model holds the thread on that kernel (translate's ``reached``)."""
    bindir.mkdir(parents=True, exist_ok=True)
    programs: dict[str, Path] = {}
    failed: dict[str, str] = {}
    for name, (scn, _) in exported.items():
        program = translate(scn, instrumented=True, reached=outcomes[name].reached)
        problem = compile_program(render(program), bindir / name)
        if problem:
            failed[name] = f"gcc: {problem}"
        else:
            programs[name] = bindir / name
    return programs, failed


def host_model_kernel(release: str | None = None) -> tuple[str, str]:
    """(model kernel, note) for this machine's kernel: its stable release when the model
    has it, else its mainline release, saying so."""
    release = release or platform.release()
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if m is None:
        return "", f"the model knows no kernel like {release}"
    exact = f"v{m[1]}.{m[2]}.{m[3] or 0}"
    mainline = f"v{m[1]}.{m[2]}"
    for name in (exact, mainline):
        try:
            kernel_at(name)
        except UnknownKernelError:
            continue
        if name == exact:
            return name, ""
        return name, f"the model has no {exact} (its stable updates are not modeled): compared with {name}"
    return "", f"the model knows no kernel {exact} or {mainline}"


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


def booted_as_expected(vm: VmResult, files: KernelFiles) -> str | None:
    """Why the guest is not the kernel asked for (None when it is, or said nothing)."""
    seen = vm.booted
    if seen.release is not None and seen.release != files.release:
        return f"the guest runs {seen.release}, not {files.release}"
    if seen.debian is not None and files.debian not in ("", "?") and seen.debian != files.debian:
        return f"the guest runs Debian {seen.debian}, not {files.debian}"
    return None


def module_cells(cells: list[Cell], vm: VmResult, need: set[str]) -> list[Cell]:
    """Cells of programs that need the module are errors when insmod did not load it."""
    status, text = vm.booted.modules.get(PIN_MODULE, (None, ""))
    problem = None
    if status is None and vm.status in (OK, TIMEOUT) and vm.booted.release is not None:
        problem = f"{PIN_MODULE}.ko was not loaded (no insmod line)"
    elif status not in (None, 0):
        problem = f"insmod {PIN_MODULE}.ko refused (status {status}): {text or 'no message'}"
    if not need or problem is None:
        return cells
    return [
        replace(c, real="error", agree=None, note=problem, log=str(vm.console)) if c.scenario in need else c
        for c in cells
    ]


def run_host(
    programs: dict[str, Path], models: dict[str, dict[str, tuple[str, str | None]]], timeout: float
) -> list[Cell]:
    """Each program in a directory of its own beside it (a file with writeback is made
    in the working directory: on this machine's disk, not wherever cowlab was started)."""
    cells = []
    for name, exe in programs.items():
        cwd = exe.parent / f"{name}.cwd"
        cwd.mkdir(exist_ok=True)
        try:
            proc = subprocess.run(
                [str(exe)], capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
            )
            real, note = real_verdict(proc.stdout, proc.returncode)
        except subprocess.TimeoutExpired:
            real, note = "error", f"timeout after {timeout:.0f} s"
        cells.append(make_cell(name, "host", models[name]["host"], real, note=note))
    return cells


def check_arguments(kernels: Sequence[str], pins: str = "module") -> None:
    """ValueError naming the first kernel or lever run_on_kernels does not know."""
    if pins not in PIN_LEVERS:
        raise ValueError(f"unknown pins={pins!r}: one of {', '.join(PIN_LEVERS)}")
    for k in kernels:
        if k == "host" or k in BUILT:
            continue
        try:
            parse_kernel(k)
        except FetchError as e:
            raise ValueError(f"{e}, or host") from None


def _stamp(cells: list[Cell], *, booted: str, release: str, model_kernel: str, note: str) -> list[Cell]:
    """What was booted and compared with, on every cell of one kernel."""
    return [
        replace(
            c,
            booted=booted,
            release=release,
            model_kernel=model_kernel,
            note="; ".join(x for x in (note, c.note) if x),
        )
        for c in cells
    ]


def disk_workdir(kdir: Path, needed: bool) -> dict[str, Any]:
    """build_initramfs options for a working directory on ext4 (a second ram disk, as the
    selftests' boot has), where programs make their files with writeback; nothing when
    no program needs one or mke2fs is missing (those programs then SKIP, saying why)."""
    from cowlab.oracle.selftest import GUEST_SETUP, GUEST_WORKDIR, ext4_image  # selftest imports this module

    image = ext4_image(kdir / "ext4.img") if needed else None
    if image is None:
        return {}
    return {
        "files": {"/lib/ext4.img": image},
        "ram_disks": 2,
        "setup": GUEST_SETUP,
        "workdir": GUEST_WORKDIR,
    }


def run_on_kernels(
    scenarios: Sequence[Scenario],
    kernels: Sequence[str] = DEFAULT_KERNELS,
    *,
    cache_dir: Path | None = None,
    workdir: Path | None = None,
    program_timeout: int = PROGRAM_TIMEOUT_S,
    on_refusal: Callable[[str, str], None] | None = None,
    pins: str = "module",
    instrumented: bool = False,
) -> list[Cell]:
    """Export, compile, boot once per kernel with every program, and compare with the model
    at exactly the version booted.

    ``kernels``: ``5.10``, ``6.1``, ``6.12`` (the versions the model knows as Debian's),
    exact versions (``6.1.176``), ``host``, or kernels built here (``built:...``, compared
    with the model at their version with their reverts).  ``pins``: ``module`` (every pin
    through the cowlab_pin module) or ``uring`` (R/W long-term pins through io_uring).
    ``instrumented``: the programs hold threads at the kernel's stops (``until:``) and
    trigger its NUMA scans; they need a kernel built with the stops patch."""
    check_arguments(kernels, pins)
    refuse = on_refusal or (lambda name, why: say(f"{name}: refused by export_c:\n{why}"))
    cache_dir = cache_dir or cache_root()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cowlab-oracle-"))
    bindir = workdir / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    programs: dict[str, Path] = {}
    exported: dict[str, tuple[Scenario, Program]] = {}
    cells: list[Cell] = []
    failed: dict[str, str] = {}
    for scn in scenarios:
        try:
            program = translate(scn, instrumented=instrumented)
        except ExportError as e:
            refuse(scn.name, "\n".join(e.problems))
            continue
        exported[scn.name] = (scn, program)
        problem = compile_program(render(program), bindir / scn.name)
        if problem:
            failed[scn.name] = f"gcc: {problem}"
            continue
        programs[scn.name] = bindir / scn.name
    if not exported:
        return cells
    order = {name: i for i, name in enumerate(exported)}
    for kernel in kernels:
        got = _run_kernel(
            kernel, exported, programs, failed, cache_dir, workdir, program_timeout, pins, instrumented
        )
        cells += sorted(got, key=lambda c: order[c.scenario])
    return cells


def _outcomes(
    exported: dict[str, tuple[Scenario, Program]], model_kernel: str, reverts: Sequence[str] = ()
) -> dict[str, ModelOutcome]:
    if not model_kernel:
        return {n: ModelOutcome("error", "no model kernel to compare with") for n in exported}
    return {n: model_outcome(scn, model_kernel, reverts) for n, (scn, _) in exported.items()}


def _models(
    exported: dict[str, tuple[Scenario, Program]], model_kernel: str, reverts: Sequence[str] = ()
) -> dict[str, tuple[str, str | None]]:
    return {n: (o.verdict, o.invariant) for n, o in _outcomes(exported, model_kernel, reverts).items()}


def _run_kernel(
    kernel: str,
    exported: dict[str, tuple[Scenario, Program]],
    programs: dict[str, Path],
    failed: dict[str, str],
    cache_dir: Path,
    workdir: Path,
    program_timeout: int,
    pins: str,
    instrumented: bool,
) -> list[Cell]:
    """The cells of one kernel: compile failures, then what the host or one boot gave."""
    if kernel == "host":
        release = platform.release()
        model_kernel, note = host_model_kernel(release)
        models = _models(exported, model_kernel)
        cells = [make_cell(n, kernel, models[n], "error", note=why) for n, why in failed.items()]
        cells += run_host(programs, {n: {"host": models[n]} for n in programs}, program_timeout + 10)
        return _stamp(cells, booted="", release=release, model_kernel=model_kernel, note=note)
    try:
        target = resolve(kernel, cache_dir)
    except (FetchError, FileNotFoundError) as e:
        model_kernel = "" if kernel in BUILT else "v" + parse_kernel(kernel)[1]
        models = _models(exported, model_kernel)
        say(f"{kernel}: {e}")
        cells = [make_cell(n, kernel, models[n], "error", note=f"{type(e).__name__}: {e}") for n in exported]
        return _stamp(cells, booted="", release="", model_kernel=model_kernel, note="")
    files, model_kernel = target.files, target.model_kernel
    outcomes = _outcomes(exported, model_kernel, target.reverts)
    models = {n: (o.verdict, o.invariant) for n, o in outcomes.items()}
    stamp = {
        "booted": target.booted if kernel in BUILT else files.debian,
        "release": files.release,
        "model_kernel": model_label(model_kernel, target.reverts),
        "note": files.note if kernel not in BUILT else "",
    }
    if instrumented:
        programs, failed = instrumented_programs(exported, outcomes, workdir / "bin" / kernel)
    cells = [make_cell(n, kernel, models[n], "error", note=why) for n, why in failed.items()]
    say(
        f"{kernel}: booting {target.booted} ({files.release}), compared with the model at "
        f"{model_label(model_kernel, target.reverts)}"
    )
    need = {n for n in programs if exported[n][1].needs_module(pins)}
    module_problem, module_log, modules = None, None, {}
    if need:
        try:
            built = build_module(files, cache_dir, headers=target.headers)
            modules = {PIN_MODULE: built.ko}
        except ModuleError as e:
            module_problem, module_log = f"{PIN_MODULE} {e.kind}: {e}", e.log
        except (FetchError, OSError, subprocess.SubprocessError) as e:
            module_problem = f"{PIN_MODULE}: {type(e).__name__}: {e}"
    if module_problem:
        say(f"{kernel}: {module_problem}")
        cells += [make_cell(n, kernel, models[n], "error", log=module_log, note=module_problem) for n in need]
    names = [n for n in programs if not (module_problem and n in need)]
    if not names:
        return _stamp(cells, **stamp)
    kdir = workdir / kernel
    try:
        kdir.mkdir(parents=True, exist_ok=True)
        initrd = build_initramfs(
            {n: programs[n] for n in names},
            kdir / "initramfs.cpio.gz",
            brd=files.brd(),
            timeout_s=program_timeout,
            modules=modules,
            env={"COWLAB_PINS": pins},
            numa_still=instrumented,
            **disk_workdir(kdir, any(exported[n][1].needs_disk_file for n in names)),
        )
        vm = boot(files.vmlinuz, initrd, BOOT_S + len(names) * (program_timeout + 5), workdir=kdir)
    except (InitramfsError, OSError, subprocess.SubprocessError) as e:
        say(f"{kernel}: {e}")
        cells += [make_cell(n, kernel, models[n], "error", note=f"{type(e).__name__}: {e}") for n in names]
        return _stamp(cells, **stamp)
    say(f"{files.release}: {vm.status} after {vm.seconds:.1f} s")
    got = cells_from_vm(vm, names, kernel, {n: models[n] for n in names})
    if instrumented:
        got = [_with_stops(c, outcomes[c.scenario], vm) for c in got]
    wrong = booted_as_expected(vm, files)
    if wrong:
        got = [replace(c, real="error", agree=None, note=wrong, log=str(vm.console)) for c in got]
    cells += module_cells(got, vm, need & set(names))
    if vm.booted.release:
        stamp["release"] = vm.booted.release
    return _stamp(cells, **stamp)


def _with_stops(cell: Cell, outcome: ModelOutcome, vm: VmResult) -> Cell:
    """The cell with where its held threads stopped, in the model and in the kernel."""
    out = vm.programs.get(cell.scenario)
    real = kernel_stops(out.text) if out is not None else ()
    return replace(cell, model_stops=outcome.stops, real_stops=real)


def have_tools() -> bool:
    return all(shutil.which(t) for t in ("qemu-system-x86_64", "gcc", "cpio"))
