"""Slow: a stops kernel booted, its debugfs interface used by data/stops/stops_proof.c.

``pytest -m slow tests/oracle/test_stops_vm.py``.  The 5.10 stops build is built the
first time (about 8 minutes on two cores, then cached); the other stops builds are
checked when they are in the cache (``cowlab oracle build-kernel --variant 6.1-stops``).
The program prints the ``stages`` file, checks the hold file's errors, and holds a task
at every stage the table supports: migrate.unmapped (a NUMA hinting fault's migration
held with the page unmapped, then moved to the other node), do_numa_page.target_chosen,
gup.follow_page (nth 1, and nth 2: the retry after the fault), gup.faultin,
reclaim.swapcache (MADV_PAGEOUT) and fork.copy_page_range (busy-waiting, released from
another process)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cowlab.oracle import kbuild, stops
from cowlab.oracle.fetch import RegistryUnreachable, cache_root
from cowlab.oracle.initramfs import build_initramfs
from cowlab.oracle.vm import OK, boot

from .vmkit import needs_vm

pytestmark = [pytest.mark.slow, needs_vm]

PROOF = Path(__file__).parent / "data" / "stops" / "stops_proof.c"


def stops_kernel(name: str) -> kbuild.BuiltKernel:
    """5.10-stops built if needed; the others from the cache or skipped."""
    if name == "5.10-stops":
        try:
            return kbuild.build_kernel(name)
        except RegistryUnreachable as e:
            pytest.skip(f"linux-source-5.10 is not cached and no Debian registry answered: {e}")
    built = kbuild.cached_build(name, cache_root())
    if built is None:
        pytest.skip(f"{name} is not built (cowlab oracle build-kernel --variant {name})")
    return built


@pytest.mark.parametrize("name", ["5.10-stops", "5.10-stops-revert", "6.1-stops", "6.12-stops"])
def test_every_stop_holds_in_the_vm(name: str, tmp_path: Path) -> None:
    built = stops_kernel(name)
    exe = tmp_path / "stops_proof"
    cmd = ["gcc", "-Wall", "-Werror", "-O2", "-static", "-o", str(exe), str(PROOF), "-lpthread"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    initrd = build_initramfs({"stops_proof": exe}, tmp_path / "initramfs.cpio.gz", brd=built.files.brd())
    vm = boot(built.files.vmlinuz, initrd, 240, workdir=tmp_path / "vm")
    assert vm.status == OK and vm.booted.release == built.release, vm.output[-2000:]
    out = vm.programs["stops_proof"]
    lines = out.text.splitlines()
    [stages] = [ln for ln in lines if ln.startswith("STOPS stages:")]
    assert tuple(stages.split()[2:]) == stops.supported(built.branch)
    assert out.status == 0 and "STOPS done failures=0" in lines, out.text
    assert not [ln for ln in lines if ln.startswith("STOPS FAIL")]
