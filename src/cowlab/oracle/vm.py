"""Boot a kernel and an initramfs under qemu (TCG: KVM here cannot run a stock
kernel), with two NUMA nodes and two serial ports written to files: ttyS0 the
kernel console, ttyS1 the test output. Killed at the timeout.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cowlab.oracle.initramfs import BEGIN, BOOT, DONE, END, INSMOD, VERSION

QEMU = "qemu-system-x86_64"
OK, TIMEOUT, PANIC, NO_OUTPUT = "ok", "timeout", "panic", "no-output"
APPEND = "console=ttyS0 panic=-1 oops=panic loglevel=4"
_END = re.compile(re.escape(END) + r"(\S+) status=(-?\d+)\s*$")
_INSMOD = re.compile(re.escape(INSMOD) + r"(\S+) status=(-?\d+)\s*$")
_DEBIAN = re.compile(r"Debian (\S+) \(")
_PANIC = ("Kernel panic", "KVM internal error")


@dataclass(frozen=True)
class ProgramOutput:
    name: str
    text: str
    #: exit status printed by /init; None when the end marker never came
    status: int | None


@dataclass(frozen=True)
class Booted:
    """What the guest said it runs (None where it printed nothing)."""

    #: ``uname -r``
    release: str | None = None
    #: the Debian package version in /proc/version
    debian: str | None = None
    #: module name -> (insmod status, what insmod and dmesg printed)
    modules: dict[str, tuple[int, str]] = field(default_factory=dict)


def booted(text: str) -> Booted:
    """The boot, version and insmod lines /init prints before the programs."""
    release = debian = None
    modules: dict[str, tuple[int, str]] = {}
    pending: list[str] = []
    for raw in text.replace("\r", "").split("\n"):
        if raw.startswith(BEGIN):
            break
        if raw.startswith(BOOT):
            release = raw[len(BOOT) :].split()[0] if raw[len(BOOT) :].split() else None
        elif raw.startswith(VERSION):
            m = _DEBIAN.search(raw)
            debian = m[1] if m else None
        elif m := _INSMOD.match(raw):
            modules[m[1]] = (int(m[2]), " ".join(line.strip() for line in pending if line.strip())[-600:])
            pending = []
        elif raw.startswith("=== cowlab"):
            pending = []
        elif release is not None:
            pending.append(raw)
    return Booted(release, debian, modules)


@dataclass(frozen=True)
class VmResult:
    #: ok / timeout / panic / no-output
    status: str
    console: Path
    output: str
    seconds: float
    programs: dict[str, ProgramOutput] = field(default_factory=dict)
    #: the end marker of the whole run was seen
    finished: bool = False
    booted: Booted = field(default_factory=Booted)


def qemu_command(
    kernel: Path,
    initramfs: Path,
    console: Path,
    output: Path,
    *,
    qemu: str = QEMU,
    memory_gb: int = 2,
    append: str = APPEND,
) -> list[str]:
    half = memory_gb * 1024 // 2
    return [
        qemu,
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-machine",
        "q35",
        "-m",
        f"{memory_gb}G",
        "-smp",
        "2,sockets=2,cores=1,threads=1",
        "-object",
        f"memory-backend-ram,id=mem0,size={half}M",
        "-object",
        f"memory-backend-ram,id=mem1,size={half}M",
        "-numa",
        "node,nodeid=0,cpus=0,memdev=mem0",
        "-numa",
        "node,nodeid=1,cpus=1,memdev=mem1",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initramfs),
        "-append",
        append,
        "-serial",
        f"file:{console}",
        "-serial",
        f"file:{output}",
        "-nic",
        "none",
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
    ]


def split_output(text: str) -> tuple[dict[str, ProgramOutput], bool]:
    """Per-program output between ``=== cowlab begin NAME`` and ``=== cowlab end NAME status=N``."""
    programs: dict[str, ProgramOutput] = {}
    name: str | None = None
    body: list[str] = []
    finished = False
    for raw in text.replace("\r", "").split("\n"):
        if raw.startswith(BEGIN):
            if name is not None:  # a begin without an end: cut short
                programs[name] = ProgramOutput(name, "\n".join(body), None)
            name, body = raw[len(BEGIN) :].strip(), []
        elif name is not None and (m := _END.match(raw)) and name == m[1]:
            programs[name] = ProgramOutput(name, "\n".join(body) + "\n", int(m[2]))
            name = None
        elif raw.strip() == DONE:
            finished = True
        elif name is not None:
            body.append(raw)
    if name is not None:
        programs[name] = ProgramOutput(name, "\n".join(body), None)
    return programs, finished


def boot(
    kernel_image: Path,
    initramfs: Path,
    timeout: float,
    *,
    workdir: Path | None = None,
    qemu: str = QEMU,
    append: str = APPEND,
) -> VmResult:
    """Run the VM to its poweroff (or kill it at ``timeout`` seconds)."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cowlab-vm-"))
    workdir.mkdir(parents=True, exist_ok=True)
    console, output = workdir / "console.log", workdir / "ttyS1.log"
    for f in (console, output):
        f.write_bytes(b"")
    cmd = qemu_command(kernel_image, initramfs, console, output, qemu=qemu, append=append)
    (workdir / "qemu.cmd").write_text(" ".join(cmd) + "\n")
    start = time.monotonic()
    timed_out = False
    with open(workdir / "qemu.stderr", "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
    seconds = time.monotonic() - start
    log = console.read_text(errors="replace") + (workdir / "qemu.stderr").read_text(errors="replace")
    text = output.read_text(errors="replace").replace("\r", "")
    programs, finished = split_output(text)
    if any(p in log for p in _PANIC):
        status = PANIC
    elif timed_out:
        status = TIMEOUT
    elif not programs and not finished:
        status = NO_OUTPUT
    else:
        status = OK
    return VmResult(status, console, text, seconds, programs, finished, booted(text))
