"""Hunt the Gaudi race on real kernels (issue 11, item 5; docs/oracle.md, "Race hunts").

The exporter refuses the Gaudi scenarios: their interleaving stops inside a NUMA
migration, which user space cannot hold open.  The hunt runs the workload instead, in a
loop, and lets the kernel's own timing decide: ``workload/gaudi_race.c`` maps and writes
pages, pins them through the pinning module exactly as the Gaudi driver does
(pin_user_pages_fast with FOLL_FORCE|FOLL_WRITE|FOLL_LONGTERM), before or after NUMA
balancing's scan, lets a thread with no affinity touch them while the scanner runs fast,
writes them again and compares the pinned PFN with the one pagemap shows and what the
device (the module's kernel-side write) wrote with what the CPU reads.

One ``RaceCell`` per (kernel, variant): the iterations, the hits and the first hit's
evidence, beside the model's verdict on the variant's scenario at the kernel booted
(``gaudi`` for pin-before-scan, ``workload/gaudi-pin-after-scan.yaml`` for
pin-after-scan; a kernel built here with a revert is compared with the model with the
same revert).  Anything that keeps the workload from running (a kernel not built, a
module that does not build or load, a VM that panics or times out, output cut short)
is an error cell, never a verdict; a kernel that lacks what the race needs (one node,
no module device) is a skip.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.history.kernel import UnknownKernelError
from cowlab.oracle import kbuild
from cowlab.oracle.fetch import FetchError, KernelFiles, cache_root, ensure_kernel, parse_kernel, say
from cowlab.oracle.initramfs import InitramfsError, build_initramfs
from cowlab.oracle.kmod import MODULE_DIR, Headers, ModuleError, build_module
from cowlab.oracle.vm import OK, PANIC, TIMEOUT, VmResult, boot
from cowlab.scenario import Scenario, ScenarioError
from cowlab.scenario.catalog import load_builtin
from cowlab.scenario.loader import load_scenario_file

WORKLOAD_DIR = Path(__file__).parent / "workload"
WORKLOAD_SOURCE = WORKLOAD_DIR / "gaudi_race.c"
BEFORE, AFTER = "pin-before-scan", "pin-after-scan"
VARIANTS = (BEFORE, AFTER)
#: SCENARIO_OR_CONFIG -> the variants it stands for
WORKLOADS: dict[str, tuple[str, ...]] = {
    "gaudi": (BEFORE,),
    "gaudi-pin-after-scan": (AFTER,),
    "gaudi-open": (BEFORE, AFTER),
}
#: variant -> the program's name in the guest (the workload reads its variant from it)
PROGRAMS = {BEFORE: "gaudi_race_before", AFTER: "gaudi_race_after"}
#: kernels built by `cowlab oracle build-kernel`: label -> build name
BUILT = {n: n.removeprefix("built:") for n in kbuild.BUILT_NAMES}
#: the kernels built with cowlab's stops, in report order (oracle run --instrumented)
STOPS_KERNELS = ("built:5.10-stops", "built:5.10-stops-revert", "built:6.1-stops", "built:6.12-stops")
#: the pinning module's name (runner.PIN_MODULE)
PIN_MODULE = "cowlab_pin"
#: seconds from qemu start to /init, generously (TCG), and after a program's own time
BOOT_S = 60
SLACK_S = 60
#: ran to its end / skipped (the machine lacks something) / error (no verdict)
RAN, SKIP, ERROR = "ran", "skip", "error"


class RaceError(ValueError):
    """Bad input: an unknown workload, variant or kernel."""


@dataclass(frozen=True)
class RaceOutput:
    """What one run of the workload printed, parsed."""

    status: str
    #: the settings line's key=value words
    settings: dict[str, str] = field(default_factory=dict)
    #: the RACE SUMMARY line's key=value words
    summary: dict[str, str] = field(default_factory=dict)
    #: the RACE HIT lines (the first few the workload prints)
    hits: tuple[str, ...] = ()
    reason: str = ""

    def count(self, key: str) -> int:
        try:
            return int(self.summary.get(key, "0"))
        except ValueError:
            return 0


def words(text: str) -> dict[str, str]:
    """``key=value`` words of a line, in order."""
    return dict(w.split("=", 1) for w in text.split() if "=" in w and not w.startswith("="))


def parse_race_output(text: str, status: int | None) -> RaceOutput:
    """The workload's output and exit status: a summary and exit 0 is a run; ``RACE SKIP``
    with exit 4 a skip; anything else (an error line, no summary, a kill) an error."""
    settings: dict[str, str] = {}
    summary: dict[str, str] = {}
    hits: list[str] = []
    said = ""
    kind = ""
    for raw in text.replace("\r", "").splitlines():
        line = raw.strip()
        if line.startswith("# cowlab race"):
            settings = words(line.split(":", 1)[1] if ":" in line else "")
        elif line.startswith("RACE HIT "):
            hits.append(line.removeprefix("RACE HIT "))
        elif line.startswith("RACE SUMMARY "):
            summary = words(line.removeprefix("RACE SUMMARY "))
        elif line.startswith(("RACE SKIP ", "RACE ERROR ")):
            kind, _, said = line.removeprefix("RACE ").partition(" ")
    if status is None:
        last = next((ln for ln in reversed(text.strip().splitlines()) if ln.strip()), "nothing")
        return RaceOutput(
            ERROR, settings, summary, tuple(hits), f"killed before its end (last line: {last[:200]})"
        )
    if kind == "SKIP" and status == 4:
        return RaceOutput(SKIP, settings, summary, tuple(hits), said)
    if kind == "SKIP":
        return RaceOutput(
            ERROR, settings, summary, tuple(hits), f"RACE SKIP with exit status {status}: {said}"
        )
    if kind == "ERROR":
        return RaceOutput(ERROR, settings, summary, tuple(hits), f"{said} (exit {status})")
    if status != 0:
        return RaceOutput(ERROR, settings, summary, tuple(hits), f"exit status {status} without a RACE line")
    missing = [k for k in ("iterations", "hits") if k not in summary]
    if missing:
        return RaceOutput(
            ERROR, settings, summary, tuple(hits), "no RACE SUMMARY line with iterations and hits"
        )
    if int(summary["hits"]) > 0 and not hits:
        return RaceOutput(ERROR, settings, summary, tuple(hits), "hits counted but no RACE HIT line")
    return RaceOutput(RAN, settings, summary, tuple(hits))


@dataclass(frozen=True)
class RaceCell:
    workload: str
    variant: str
    #: the kernel asked for: 5.10, 6.1, 6.12, built:stock, built:revert
    kernel: str
    #: what was booted: ``Debian 5.10.262-1`` or ``linux-source-5.10 5.10.262-1, revert``
    booted: str
    #: ``uname -r`` as the guest printed it
    release: str
    #: the model's kernel and its reverts: ``v5.10.262 --revert 80d47f5de5e3``
    model_kernel: str
    #: holds / broken / error
    model: str
    invariant: str | None
    #: ran / skip / error
    status: str
    iterations: int = 0
    hits: int = 0
    hit_pages: int = 0
    seconds: float = 0.0
    #: the first hit's evidence (a RACE HIT line)
    first_hit: str = ""
    summary: dict[str, str] = field(default_factory=dict)
    note: str = ""
    log: str | None = None

    @property
    def rate(self) -> float | None:
        """Iterations with a hit / iterations."""
        return self.hits / self.iterations if self.status == RAN and self.iterations else None

    @property
    def agree(self) -> bool | None:
        """A hit where the model says the promise holds is a disagreement; a hit where it
        breaks, or no hit where it holds, agrees; no hit where it breaks proves nothing
        (a race may be too rare to see): None, as for skips and errors."""
        if self.status != RAN or self.model not in ("holds", "broken"):
            return None
        if self.hits:
            return self.model == "broken"
        return True if self.model == "holds" else None

    def outcome(self) -> str:
        """A word for the table: reproduced, consistent, not reproduced, DISAGREES, skip, error."""
        if self.status != RAN:
            return self.status
        if self.agree is False:
            return "DISAGREES"
        if self.hits:
            return "reproduced"
        return "consistent" if self.agree else "not reproduced"

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "rate": self.rate, "agree": self.agree, "outcome": self.outcome()}


def variants_of(workload: str, chosen: Sequence[str] = ()) -> tuple[str, ...]:
    """The variants to run: those asked for, else those the workload stands for."""
    if workload not in WORKLOADS:
        raise RaceError(
            f"no race workload for {workload!r}: the hunter runs the Gaudi workload ({', '.join(WORKLOADS)})"
        )
    for v in chosen:
        if v not in VARIANTS:
            raise RaceError(f"unknown variant {v!r}: one of {', '.join(VARIANTS)}")
    return tuple(chosen) or WORKLOADS[workload]


def check_kernels(kernels: Sequence[str]) -> None:
    """Bad input before any work: a kernel label neither Debian's nor built here."""
    if not kernels:
        raise RaceError("no kernel: give --kernels 5.10,6.1,6.12,built:stock,built:revert")
    for k in kernels:
        if k in BUILT:
            continue
        if k == "host":
            raise RaceError("host: the race needs two NUMA nodes and the pinning module; use a VM kernel")
        try:
            parse_kernel(k)
        except FetchError as e:
            raise RaceError(f"{e}; or one of {', '.join(BUILT)}") from None


def model_scenario(variant: str) -> Scenario:
    if variant == BEFORE:
        return load_builtin("gaudi")
    return load_scenario_file(WORKLOAD_DIR / "gaudi-pin-after-scan.yaml")


def model_verdict(variant: str, model_kernel: str, reverts: Sequence[str] = ()) -> tuple[str, str | None]:
    """The model on the variant's scenario at that kernel, with the build's reverts."""
    try:
        kernel = kernel_at(model_kernel, tuple(reverts))
    except UnknownKernelError as e:
        return "error", f"the model has no kernel {model_kernel}: {e}"
    try:
        result = run_scenario(model_scenario(variant), kernel)
    except ScenarioError as e:
        return "error", f"{type(e).__name__}: {e}"
    first = result.first
    return ("holds", None) if first is None else ("broken", first[1].invariant)


def model_label(model_kernel: str, reverts: Sequence[str]) -> str:
    return " ".join([model_kernel, *(f"--revert {r}" for r in reverts)])


def workload_digest() -> str:
    digest = hashlib.sha256()
    for path in (WORKLOAD_SOURCE, MODULE_DIR / "cowlab_pin_abi.h"):
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def compile_workload(cache_dir: Path) -> Path:
    """The static workload binary, compiled once per source (gcc -Wall -Werror -O2 -static)."""
    out_dir = cache_dir / "race" / workload_digest()
    exe = out_dir / "gaudi_race"
    if exe.is_file():
        return exe
    if shutil.which("gcc") is None:
        raise RaceError("no gcc on this machine (apt-get install gcc libc6-dev)")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".gaudi_race.tmp"
    cmd = ["gcc", "-Wall", "-Werror", "-O2", "-static", "-I", str(MODULE_DIR)]
    cmd += ["-o", str(tmp), str(WORKLOAD_SOURCE), "-lpthread"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the race workload does not compile: {proc.stderr.strip()[-600:]}")
    tmp.rename(exe)
    return exe


def tree_headers(built: kbuild.BuiltKernel) -> Headers:
    """A kernel built here is its own headers, built with the system's gcc."""
    proc = subprocess.run(["gcc", "-dumpversion"], capture_output=True, text=True, check=False)
    return Headers(built.tree, "gcc", proc.stdout.strip() or "?", ())


@dataclass(frozen=True)
class Target:
    """A kernel to boot, resolved: its files, what to call it, and the model to compare with."""

    files: KernelFiles
    booted: str
    model_kernel: str
    reverts: tuple[str, ...] = ()
    headers: Headers | None = None


def resolve(kernel: str, cache_dir: Path) -> Target:
    """The kernel's files: a Debian kernel (fetched if needed) or a build of ours (never
    built here: an error names the command that builds it)."""
    if kernel in BUILT:
        variant = BUILT[kernel]
        built = kbuild.resolve_built(kernel, cache_dir)
        if built is None:
            raise FileNotFoundError(
                f"{kernel} is not built (or its configuration or patch changed): "
                f"run `cowlab oracle build-kernel --variant {variant}` first"
            )
        return Target(built.files, built.describe(), built.model_kernel, built.reverts, tree_headers(built))
    files = ensure_kernel(kernel, cache_dir)
    booted = f"Debian {files.debian}" + (f" ({files.note})" if files.note else "")
    return Target(files, booted, files.model_kernel)


def _cell(
    workload: str,
    variant: str,
    kernel: str,
    target: Target | None,
    model: tuple[str, str | None],
    status: str,
    note: str,
    *,
    release: str = "",
    log: str | None = None,
) -> RaceCell:
    """A cell without a hunt's counts (an error or a skip; a run adds them with replace)."""
    return RaceCell(
        workload,
        variant,
        kernel,
        target.booted if target else "",
        release or (target.files.release if target else ""),
        model_label(target.model_kernel, target.reverts) if target else "",
        model[0],
        model[1],
        status,
        note=note,
        log=log,
    )


def cells_from_vm(
    vm: VmResult,
    workload: str,
    variants: Sequence[str],
    kernel: str,
    target: Target,
    models: dict[str, tuple[str, str | None]],
) -> list[RaceCell]:
    """One cell per variant from the boot: errors for a panic, a wrong kernel, a module
    that did not load or a program cut short."""
    release = vm.booted.release or ""
    wrong = ""
    if vm.booted.release is not None and vm.booted.release != target.files.release:
        wrong = f"the guest runs {vm.booted.release}, not {target.files.release}"
    elif vm.booted.debian is not None and vm.booted.debian != target.files.debian:
        wrong = f"the guest runs Debian {vm.booted.debian}, not {target.files.debian}"
    insmod, said = vm.booted.modules.get(PIN_MODULE, (None, ""))
    # qemu gone before /init's end marker, and not by our timeout: say what stopped it
    ended = ""
    if vm.status == OK and not vm.finished:
        stderr = vm.console.with_name("qemu.stderr")
        last = stderr.read_text(errors="replace").strip().splitlines()[-1:] if stderr.is_file() else []
        said_last = last[0] if last else "qemu said nothing"
        ended = f"the VM ended after {vm.seconds:.0f} s before the hunts did ({said_last})"
    cells = []
    for variant in variants:
        out = vm.programs.get(PROGRAMS[variant])
        common = (workload, variant, kernel, target, models[variant])
        if vm.status == PANIC:
            cells.append(
                _cell(*common, ERROR, "VM panic (see the console log)", log=str(vm.console), release=release)
            )
        elif wrong:
            cells.append(_cell(*common, ERROR, wrong, log=str(vm.console), release=release))
        elif insmod is None and vm.booted.release is not None:
            cells.append(
                _cell(
                    *common,
                    ERROR,
                    f"{PIN_MODULE}.ko was not loaded (no insmod line)",
                    log=str(vm.console),
                    release=release,
                )
            )
        elif insmod not in (None, 0):
            why = f"insmod {PIN_MODULE}.ko refused (status {insmod}): {said or 'no message'}"
            cells.append(_cell(*common, ERROR, why, log=str(vm.console), release=release))
        elif out is None and vm.status == TIMEOUT:
            why = (
                f"race hunter timed out: the VM was killed after {vm.seconds:.0f} s, before this variant ran"
            )
            cells.append(_cell(*common, ERROR, why, log=str(vm.console), release=release))
        elif out is None:
            why = ended or f"no output (VM {vm.status})"
            cells.append(_cell(*common, ERROR, why, log=str(vm.console), release=release))
        else:
            parsed = parse_race_output(out.text, out.status)
            note = parsed.reason
            if parsed.status == ERROR and vm.status == TIMEOUT:
                note = f"race hunter timed out (VM killed after {vm.seconds:.0f} s); {note}"
            elif parsed.status == ERROR and ended and out.status is None:
                note = f"{ended}; {note}"
            log = str(vm.console) if parsed.status == ERROR else None
            cells.append(
                replace(
                    _cell(*common, parsed.status, note, release=release, log=log),
                    # the iterations whose scan and pin came in the variant's order
                    iterations=parsed.count("ordered" if "ordered" in parsed.summary else "iterations"),
                    hits=parsed.count("hits"),
                    hit_pages=parsed.count("hit_pages"),
                    seconds=float(parsed.summary.get("seconds", "0") or 0),
                    first_hit=parsed.hits[0] if parsed.hits else "",
                    summary=parsed.summary,
                )
            )
    return cells


def run_race(
    workload: str,
    kernels: Sequence[str],
    *,
    seconds: int = 60,
    variants: Sequence[str] = (),
    pages: int = 32,
    touch_ms: int = 150,
    fresh: bool = True,
    cache_dir: Path | None = None,
    workdir: Path | None = None,
) -> list[RaceCell]:
    """Boot each kernel once and run each variant's hunt for ``seconds`` in it; ``fresh``:
    each iteration in a new process (whose NUMA scan period has not grown yet)."""
    chosen = variants_of(workload, variants)
    check_kernels(kernels)
    cache_dir = cache_dir or cache_root()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cowlab-race-"))
    exe = compile_workload(cache_dir)
    cells: list[RaceCell] = []
    for kernel in kernels:
        env = {
            "COWLAB_RACE_SECONDS": str(seconds),
            "COWLAB_RACE_PAGES": str(pages),
            "COWLAB_RACE_TOUCH_MS": str(touch_ms),
            "COWLAB_RACE_FRESH": str(int(fresh)),
        }
        cells += _run_kernel(workload, chosen, kernel, exe, seconds, env, cache_dir, workdir)
    return cells


def _run_kernel(
    workload: str,
    variants: Sequence[str],
    kernel: str,
    exe: Path,
    seconds: int,
    env: dict[str, str],
    cache_dir: Path,
    workdir: Path,
) -> list[RaceCell]:
    try:
        target = resolve(kernel, cache_dir)
    except (FetchError, FileNotFoundError) as e:
        say(f"{kernel}: {e}")
        model_kernel = "" if kernel in BUILT else "v" + parse_kernel(kernel)[1]
        return [
            RaceCell(
                workload,
                v,
                kernel,
                "",
                "",
                model_kernel,
                "error",
                None,
                ERROR,
                note=f"{type(e).__name__}: {e}",
            )
            for v in variants
        ]
    models = {v: model_verdict(v, target.model_kernel, target.reverts) for v in variants}
    say(
        f"{kernel}: booting {target.booted} ({target.files.release}); "
        f"model {model_label(target.model_kernel, target.reverts)}"
    )
    try:
        module = build_module(target.files, cache_dir, headers=target.headers)
    except ModuleError as e:
        return [
            _cell(
                workload,
                v,
                kernel,
                target,
                models[v],
                ERROR,
                f"{PIN_MODULE} {e.kind}: {e}",
                log=str(e.log) if e.log else None,
            )
            for v in variants
        ]
    except (FetchError, OSError, subprocess.SubprocessError) as e:
        return [
            _cell(workload, v, kernel, target, models[v], ERROR, f"{PIN_MODULE}: {type(e).__name__}: {e}")
            for v in variants
        ]
    kdir = workdir / kernel.replace(":", "-")
    program_timeout = seconds + SLACK_S
    try:
        initrd = build_initramfs(
            {PROGRAMS[v]: exe for v in variants},
            kdir / "initramfs.cpio.gz",
            brd=target.files.brd(),
            timeout_s=program_timeout,
            modules={PIN_MODULE: module.ko},
            env=env,
        )
        vm = boot(target.files.vmlinuz, initrd, BOOT_S + len(variants) * (program_timeout + 5), workdir=kdir)
    except (InitramfsError, OSError, subprocess.SubprocessError) as e:
        return [
            _cell(workload, v, kernel, target, models[v], ERROR, f"{type(e).__name__}: {e}") for v in variants
        ]
    say(f"{kernel}: VM {vm.status} after {vm.seconds:.0f} s")
    if vm.status not in (OK, TIMEOUT, PANIC) and not vm.programs:
        return [
            _cell(workload, v, kernel, target, models[v], ERROR, f"VM {vm.status}", log=str(vm.console))
            for v in variants
        ]
    return cells_from_vm(vm, workload, variants, kernel, target, models)


RACE_HEADING = "## Race hunts"
#: the report's race sections that `cowlab oracle run --report` keeps when it rewrites the
#: file (the second written by hand from a one-process run's JSON with race_markdown)
RACE_HEADINGS = (RACE_HEADING, "## Race hunts in one process")


def _rate(cell: RaceCell) -> str:
    if cell.rate is None:
        return "-"
    return f"{cell.hits}/{cell.iterations} = {cell.rate:.4f}"


def race_markdown(cells: Sequence[RaceCell], command: str, *, heading: str = RACE_HEADING) -> str:
    """The report's section: one row per kernel and variant, hits beside the model."""
    pages = next((c.summary.get("pages_per_iteration") for c in cells if c.summary), "?")
    lines = [
        heading,
        "",
        f"Generated by `{command}`.",
        "",
        'The Gaudi workload (`src/cowlab/oracle/workload/gaudi_race.c`, docs/oracle.md, "Race '
        f'hunts") in a loop in the VM: each iteration maps and writes {pages} pages, pins them through '
        "the cowlab_pin module as the driver does (FOLL_FORCE|FOLL_WRITE|FOLL_LONGTERM, GUP-fast) before "
        "or after NUMA balancing's scan, lets a thread with no affinity touch them, writes them "
        "again and compares the pinned PFN with pagemap's and the device's write with what the CPU "
        "reads.  rate = iterations with a diverged page / iterations.  The model column is the "
        "model's verdict on the variant's scenario (`gaudi` for pin-before-scan, "
        "`gaudi-pin-after-scan` for pin-after-scan) at the kernel booted, with the build's reverts.  "
        "reproduced: hits where the model breaks; consistent: none where it holds; not reproduced: "
        "none where it breaks (a null result, not a disagreement); DISAGREES: a hit where it holds.",
        "",
        "| kernel | booted (uname -r) | variant | model | iterations | hits (pages) | rate | outcome "
        "| remote touches / hint faults / failed migrations | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        model = f"{c.model}" + (f" ({c.invariant})" if c.invariant else "") + f" at {c.model_kernel or '-'}"
        s = c.summary
        counters = (
            f"{s.get('touches_remote', '-')} / {s.get('hint_faults', '-')} / {s.get('migrate_fail', '-')}"
            if s
            else "-"
        )
        if s.get("unordered", "0") != "0":
            counters += f"; {s['unordered']} unordered ({s.get('unordered_hits', '0')} hit pages)"
        note = c.note
        lines.append(
            f"| {c.kernel} | {c.booted or '-'} ({c.release or '-'}) | {c.variant} | {model} | "
            f"{c.iterations if c.status == RAN else '-'} | "
            f"{f'{c.hits} ({c.hit_pages})' if c.status == RAN else '-'} | {_rate(c)} | {c.outcome()} | "
            f"{counters} | "
            f"{note.replace('|', '/')} |"
        )
    firsts = [c for c in cells if c.first_hit]
    if firsts:
        lines += ["", "First hit of each hunt (the workload's `RACE HIT` line):", ""]
        lines += [f"- {c.kernel} {c.variant}: `{c.first_hit}`" for c in firsts]
    return "\n".join(lines) + "\n"
