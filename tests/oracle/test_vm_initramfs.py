"""The initramfs: its /init script and, with busybox-static and cpio, its contents."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cowlab.oracle.fetch import debian_mirrors
from cowlab.oracle.initramfs import BUSYBOX, build_initramfs, init_script, listing


def test_init_script() -> None:
    init = init_script(["a", "b"], timeout_s=30)
    assert init.startswith("#!/bin/sh\n") and init.rstrip().endswith("poweroff -f")
    assert "exec >/dev/ttyS1" in init and "mount -t debugfs" in init
    assert "insmod /lib/brd.ko rd_nr=1 rd_size=262144" in init and "swapon /dev/ram0" in init
    assert "/sys/kernel/debug/sched/numa_balancing/scan_delay_ms" in init
    assert "/proc/sys/kernel/numa_balancing_scan_period_min_ms" in init
    assert init.index("=== cowlab begin a") < init.index("timeout -s KILL 30 /bin/cowlab/a")
    assert init.index("=== cowlab end a status=$?") < init.index("=== cowlab begin b")


@pytest.mark.skipif(
    not BUSYBOX.exists() or shutil.which("cpio") is None, reason="needs busybox-static and cpio"
)
def test_initramfs_contents(tmp_path: Path) -> None:
    prog = tmp_path / "prog"
    prog.write_bytes(b"\x7fELF fake")
    brd = tmp_path / "brd.ko"
    brd.write_bytes(b"module")
    out = build_initramfs({"iouring-mprotect": prog}, tmp_path / "initrd.cpio.gz", brd=brd)
    names = {n.removeprefix("./") for n in listing(out)}
    assert {
        "init",
        "bin/busybox",
        "bin/sh",
        "bin/timeout",
        "bin/poweroff",
        "bin/insmod",
        "bin/mkswap",
        "bin/swapon",
        "bin/cowlab/iouring-mprotect",
        "lib/brd.ko",
    } <= names
    assert out.stat().st_size > 500_000  # busybox itself, not a 4 KB archive of links


def test_debian_mirrors(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    assert debian_mirrors(tmp_path, tmp_path / "none") == (
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
    )


def test_missing_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cowlab.oracle import fetch

    monkeypatch.setattr(fetch, "TOOLS", {"present": str(tmp_path), "absent": str(tmp_path / "nope")})
    assert fetch.missing_tools() == ["absent"]


def test_init_script_options_of_the_selftest_boot() -> None:
    init = init_script(
        ["cow"],
        timeout_s=900,
        ram_disks=2,
        numa_scan=False,
        setup=["mount -t ext4 /dev/ram1 /mnt"],
        workdir="/mnt",
    )
    assert "insmod /lib/brd.ko rd_nr=2 rd_size=262144" in init
    assert "numa_balancing_scan" not in init and "echo 1 > /proc/sys/kernel/numa_balancing" not in init
    assert init.index("mount -t ext4 /dev/ram1 /mnt") < init.index("cd /mnt 2>/dev/null || cd /tmp")
    assert init.index("cd /mnt 2>/dev/null || cd /tmp") < init.index("=== cowlab begin cow")
