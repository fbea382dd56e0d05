"""One real boot: the Debian 6.1 cloud kernel under qemu TCG runs iouring-mprotect.

Slow (fetches the kernel once into ~/.cache/cowlab, then ~5-10 s per boot);
needs qemu-system-x86, busybox-static, cpio, gcc, liburing-dev and apt access."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cowlab.oracle.runner import run_on_kernels
from cowlab.scenario.catalog import load_builtin


@pytest.mark.slow
def test_real_boot_6_1(tmp_path: Path) -> None:
    for tool in ("qemu-system-x86_64", "gcc", "cpio", "apt-get"):
        if shutil.which(tool) is None:
            pytest.skip(f"no {tool}")
    if not Path("/bin/busybox").exists():
        pytest.skip("no busybox-static")
    [cell] = run_on_kernels([load_builtin("iouring-mprotect")], ["6.1"], workdir=tmp_path)
    assert (cell.scenario, cell.kernel, cell.model, cell.real, cell.agree) == (
        "iouring-mprotect",
        "6.1",
        "holds",
        "pass",
        True,
    ), cell
