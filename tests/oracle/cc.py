"""Compile and run exported oracle programs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cowlab.oracle import TapResult, parse_tap

GCC = shutil.which("gcc")
#: liburing-dev installed: link the io_uring pins in, else compile them out
HAVE_URING = Path("/usr/include/liburing.h").exists()
EXIT_FOR = {"pass": 0, "fail": 1, "skip": 4}


def compile_c(source: str, exe: Path, *, uring: bool = HAVE_URING, defines: tuple[str, ...] = ()) -> Path:
    """gcc -Wall -Werror -O2 -static, as docs/oracle.md says; fails the test on any warning."""
    assert GCC is not None
    src = exe.with_suffix(".c")
    src.write_text(source)
    cmd = [GCC, "-Wall", "-Werror", "-O2", "-static", *(f"-D{d}" for d in defines), "-o", str(exe), str(src)]
    cmd += ["-luring", "-lpthread"] if uring else ["-DCOWLAB_NO_LIBURING", "-lpthread"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return exe


def run_program(exe: Path, timeout: float = 120) -> tuple[int, TapResult, str]:
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, parse_tap(proc.stdout), proc.stdout


def run_checked(exe: Path) -> TapResult:
    """Run; the TAP must be well formed and the exit status must match its verdict."""
    status, tap, out = run_program(exe)
    assert not tap.errors, f"{tap.errors}\n{out}"
    assert status == EXIT_FOR[tap.verdict], out
    return tap
