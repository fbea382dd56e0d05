"""Real boots (slow): the Debian 6.1 cloud kernel under qemu TCG runs iouring-mprotect,
and every R/O-pin scenario runs on 5.10, 6.1 and 6.12 through the cowlab_pin module.

They fetch kernels, headers and compilers once into ~/.cache/cowlab (skipping when
nothing is cached and no Debian registry answers), then take ~5-12 s per boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowlab.oracle.runner import run_on_kernels
from cowlab.scenario.catalog import builtin_names, load_builtin
from tests.oracle.vmkit import kernel_or_skip, module_or_skip, needs_vm


@pytest.mark.slow
@needs_vm
def test_real_boot_6_1(tmp_path: Path) -> None:
    files = kernel_or_skip("6.1")
    module_or_skip(files)
    [cell] = run_on_kernels([load_builtin("iouring-mprotect")], ["6.1"], workdir=tmp_path)
    assert (cell.scenario, cell.kernel, cell.model, cell.real, cell.agree) == (
        "iouring-mprotect",
        "6.1",
        "holds",
        "pass",
        True,
    ), cell
    assert (cell.booted, cell.release, cell.model_kernel) == (files.debian, files.release, "v6.1.192")


@pytest.mark.slow
@needs_vm
def test_ro_pins_on_debian_kernels(tmp_path: Path) -> None:
    """The R/O-pin cells were skips (no CONFIG_GUP_TEST); with the module they are verdicts."""
    kernels = ("5.10", "6.1", "6.12")
    for k in kernels:
        module_or_skip(kernel_or_skip(k))
    names = [n for n in builtin_names() if n.startswith("cow-ro-pin-") or n == "ro-pin-after-fork"]
    cells = run_on_kernels(
        [load_builtin(n) for n in names], kernels, workdir=tmp_path, on_refusal=lambda n, w: None
    )
    table = "\n".join(f"{c.scenario} {c.kernel}: model {c.model}, real {c.real} {c.note}" for c in cells)
    assert len(cells) >= 30 and all(c.real in ("pass", "fail") for c in cells), table
    assert all(c.agree for c in cells), table


#: one of each new kind of export: PMD THP (populated, PTE-mapped, mremapped, partially
#: shared, collapsed), mTHP, MAP_SHARED files on tmpfs and ext4, file_pin_writeback,
#: io_uring's call_result
THP_AND_FILES = (
    "cow-vmsplice-unmap-child-thp",
    "cow-ro-pin-shared-pte-thp",
    "cow-iouring-ro-mapped-mremap-thp",
    "cow-basic-fork-shared-thp",
    "cow-thp-collapse-after-fork-lower-shared",
    "cow-non-anon-ro-pin-memfd",
    "gup-longterm-rw-pin-shared-local-tmpfile",
    "gup-longterm-iouring-shared-local-tmpfile",
    "gup-longterm-iouring-private-memfd",
)


@pytest.mark.slow
@needs_vm
def test_thp_and_shared_files_on_debian_kernels(tmp_path: Path) -> None:
    """THP regions and MAP_SHARED files are verdicts on every kernel that has them, all
    agreeing with the model (about 15 s per kernel once cached); an mTHP region SKIPs
    before 6.8 (no hugepages-16kB)."""
    kernels = ("5.10", "6.12")
    for k in kernels:
        module_or_skip(kernel_or_skip(k))
    mthp = [n for n in builtin_names() if "mthp" in n][:1]
    cells = run_on_kernels([load_builtin(n) for n in (*THP_AND_FILES, *mthp)], kernels, workdir=tmp_path)
    table = "\n".join(f"{c.scenario} {c.kernel}: model {c.model}, real {c.real} {c.note}" for c in cells)
    verdicts = [c for c in cells if c.scenario not in mthp]
    assert len(verdicts) == 2 * len(THP_AND_FILES) and all(c.agree for c in verdicts), table
    assert {(c.kernel, c.real) for c in cells if c.scenario in mthp} <= {("5.10", "skip"), ("6.12", "pass")}
