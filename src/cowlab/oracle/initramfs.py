"""Build the initramfs the oracle boots: busybox-static (one symlink per applet),
the statically linked test programs, the brd module for swap, and an /init that
runs each program with a timeout between markers on /dev/ttyS1, then powers off.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
BEGIN, END, DONE = "=== cowlab begin ", "=== cowlab end ", "=== cowlab done"
#: what the guest says it booted: ``uname -r`` and /proc/version
BOOT, VERSION = "=== cowlab boot ", "=== cowlab version "
#: ``=== cowlab insmod NAME status=N`` after the module's insmod output
INSMOD = "=== cowlab insmod "
#: seconds a program may run in the guest before it is killed
PROGRAM_TIMEOUT_S = 120
#: the fast NUMA-balancing scan of docs/oracle.md
NUMA_SCAN = {"scan_delay_ms": 0, "scan_period_min_ms": 10, "scan_period_max_ms": 100, "scan_size_mb": 256}
#: balancing's own scans held off for an hour: on an instrumented kernel only the stops
#: patch's trigger scans, when the program says (c_stops.py)
HOUR_MS = 3600000
NUMA_STILL = {
    "scan_delay_ms": HOUR_MS,
    "scan_period_min_ms": HOUR_MS,
    "scan_period_max_ms": HOUR_MS,
    "scan_size_mb": 256,
}


class InitramfsError(RuntimeError):
    pass


def init_script(
    programs: list[str],
    timeout_s: int = PROGRAM_TIMEOUT_S,
    hugepages: int = 16,
    *,
    modules: Sequence[str] = (),
    env: dict[str, str] | None = None,
    ram_disks: int = 1,
    numa_scan: bool = True,
    numa_still: bool = False,
    setup: Sequence[str] = (),
    workdir: str = "/tmp",
) -> str:
    """The /init shell script (busybox sh) running ``/bin/cowlab/NAME`` for each name,
    after loading ``/lib/MODULE.ko`` for each module (its device must appear in /dev).

    ``ram_disks`` brd disks of 256 MiB (the first is swap); ``numa_scan`` the fast
    NUMA-balancing scan of the numa_scan approximation (else the kernel's defaults);
    ``numa_still`` instead balancing on with its own scans held off (NUMA_STILL), so that
    only an instrumented program's triggers scan: set before any program's mm exists;
    ``setup`` shell lines run after that; the programs run in ``workdir`` (/tmp if it
    cannot be entered)."""
    debugfs = "/sys/kernel/debug/sched/numa_balancing"
    knobs = NUMA_STILL if numa_still else NUMA_SCAN
    new = "; ".join(f"echo {v} > {debugfs}/{k}" for k, v in knobs.items())
    old = "; ".join(f"echo {v} > /proc/sys/kernel/numa_balancing_{k}" for k, v in knobs.items())
    lines = [
        "#!/bin/sh",
        "export PATH=/bin",
        "mount -t proc proc /proc",
        "mount -t sysfs sysfs /sys",
        "mount -t devtmpfs devtmpfs /dev",
        "mount -t debugfs debugfs /sys/kernel/debug",
        "mount -t tmpfs tmpfs /tmp",
        "exec >/dev/ttyS1 2>&1 </dev/null",
        f'echo "{BOOT}$(uname -r) nodes=$(ls -d /sys/devices/system/node/node* | wc -l)"',
        f'echo "{VERSION}$(cat /proc/version)"',
        "if [ -f /lib/brd.ko ]; then",
        f"  insmod /lib/brd.ko rd_nr={ram_disks} rd_size=262144"
        " && mkswap /dev/ram0 >/dev/null && swapon /dev/ram0",
        "fi",
    ]
    if numa_scan or numa_still:
        lines += [
            "echo 1 > /proc/sys/kernel/numa_balancing",
            f"if [ -d {debugfs} ]; then {new}; else {old}; fi",
        ]
    lines += [
        f"echo {hugepages} > /proc/sys/vm/nr_hugepages",
        'echo "# swap: $(grep -c ram0 /proc/swaps) numa_balancing: $(cat /proc/sys/kernel/numa_balancing)"',
        *setup,
        f"cd {workdir} 2>/dev/null || cd /tmp",
    ]
    for name in modules:
        lines += [
            f'echo "=== cowlab loading {name}"',
            f"insmod /lib/{name}.ko 2>&1; s=$?",
            f'if [ $s -eq 0 ] && [ ! -c /dev/{name} ]; then echo "no /dev/{name} after insmod"; s=19; fi',
            "if [ $s -ne 0 ]; then dmesg | tail -n 3; fi",
            f'echo "{INSMOD}{name} status=$s"',
        ]
    lines += [f"export {k}={v}" for k, v in sorted((env or {}).items())]
    for name in programs:
        lines += [
            f'echo "{BEGIN}{name}"',
            f"COWLAB_TIMEOUT_S={max(timeout_s - 10, 5)} timeout -s KILL {timeout_s} /bin/cowlab/{name}",
            f'echo "{END}{name} status=$?"',
        ]
    lines += [f'echo "{DONE}"', "sync", "poweroff -f", ""]
    return "\n".join(lines)


def applets(busybox: Path = BUSYBOX) -> list[str]:
    out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if a and a != "busybox" and "/" not in a]


def _module(brd: Path, dest: Path) -> None:
    if brd.suffix == ".xz":
        dest.write_bytes(lzma.decompress(brd.read_bytes()))
    else:
        shutil.copyfile(brd, dest)


def build_initramfs(
    programs: dict[str, Path],
    out: Path,
    *,
    brd: Path | None = None,
    timeout_s: int = PROGRAM_TIMEOUT_S,
    busybox: Path = BUSYBOX,
    modules: dict[str, Path] | None = None,
    env: dict[str, str] | None = None,
    files: dict[str, Path] | None = None,
    **init_options: Any,
) -> Path:
    """Write ``out`` (a gzipped newc cpio); ``programs`` maps name -> static executable,
    ``modules`` name -> a kernel module /init loads before the programs run, ``files``
    a path in the image -> a file to put there; ``init_options`` go to init_script."""
    if not busybox.exists():
        raise InitramfsError(f"{busybox} missing: apt-get install busybox-static")
    if shutil.which("cpio") is None:
        raise InitramfsError("cpio missing: apt-get install cpio")
    with tempfile.TemporaryDirectory(prefix="cowlab-initramfs-") as tmp:
        root = Path(tmp)
        for d in ("bin/cowlab", "lib", "proc", "sys", "dev", "tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(busybox, root / "bin" / "busybox")
        (root / "bin" / "busybox").chmod(0o755)
        for applet in applets(busybox):
            link = root / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
        for name, exe in programs.items():
            shutil.copyfile(exe, root / "bin" / "cowlab" / name)
            (root / "bin" / "cowlab" / name).chmod(0o755)
        if brd is not None:
            _module(brd, root / "lib" / "brd.ko")
        for name, ko in (modules or {}).items():
            _module(ko, root / "lib" / f"{name}.ko")
        for dest, src in (files or {}).items():
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        init = root / "init"
        script = init_script(list(programs), timeout_s, modules=list(modules or {}), env=env, **init_options)
        init.write_text(script)
        init.chmod(0o755)
        listing = subprocess.run(["find", ".", "-print0"], cwd=root, capture_output=True, check=True).stdout
        archive = subprocess.run(
            ["cpio", "--null", "-o", "-H", "newc", "--quiet"],
            cwd=root,
            input=listing,
            capture_output=True,
            check=True,
        ).stdout
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(archive, compresslevel=6))
    return out


def listing(initramfs: Path) -> list[str]:
    """The paths in a gzipped cpio (``cpio -t``), for tests."""
    data = gzip.decompress(initramfs.read_bytes())
    out = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True, check=True).stdout
    return out.decode().split()
