"""The kernel's selftests in the oracle's VM.

The quick test runs gup_longterm.c of Debian's 6.12.117 on that kernel (one boot of
about 10 s) and only when the kernel and the selftest source are already in the cache:
it never fetches.  The slow one (``pytest -m slow``) fetches what it needs (skipping,
saying why, when no Debian registry answers) and runs both tests on 6.12 and the
source of 6.1, which has neither."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cowlab.oracle.fetch import RegistryUnreachable, cache_root, cached_kernels, parse_kernel
from cowlab.oracle.selftest import ERROR, PASS, SKIP, run_selftests, summary
from cowlab.oracle.selftest_build import SelftestSource, cached_source, ensure_source
from tests.oracle.vmkit import kernel_or_skip, needs_vm


def cached_or_skip(spec: str) -> SelftestSource:
    branch, version = parse_kernel(spec)
    kernels = [k for k in cached_kernels(branch, cache_root()) if k.upstream == version]
    if not kernels:
        pytest.skip(f"kernel {version} is not cached (cowlab oracle selftest --kernels {spec} fetches it)")
    source = cached_source(branch, kernels[0].debian)
    if source is None:
        pytest.skip(f"linux-source-{branch} {kernels[0].debian} is not cached")
    return source


def source_or_skip(spec: str) -> SelftestSource:
    files = kernel_or_skip(spec)
    try:
        return ensure_source(files.version, files.debian)
    except RegistryUnreachable as e:
        pytest.skip(f"linux-source-{files.version}: {e}")


@needs_vm
def test_gup_longterm_on_6_12_cached(tmp_path: Path) -> None:
    source = cached_or_skip("6.12")
    assert source.present["gup_longterm"]
    [run] = run_selftests(["6.12"], ["gup_longterm"], workdir=tmp_path, timeout=120)
    table = "\n".join(f"{r.number} {r.result} {r.line} {r.reason} {r.entries} {r.note}" for r in run.rows)
    assert [r for r in run.rows if r.result == ERROR] == [], table
    assert (run.booted, run.model_kernel, run.source) == (source.debian, "v6.12.117", source.describe())
    assert len(run.rows) == 50 and run.fs["tmp"] == "tmpfs", table
    if shutil.which("mke2fs") or Path("/usr/sbin/mke2fs").exists():
        assert run.fs["cwd"] == "ext4", table
        # io_uring refuses a R/W pin of a shared ext4 mapping (8ac268436e6d, v6.5): "Should have failed"
        shared_ext4 = "io_uring fixed buffer with MAP_SHARED file mapping ... with local tmpfile"
        assert next(r for r in run.rows if r.line == shared_ext4).result == PASS, table
    s = summary(run)
    assert (s["matched"], s["disagree"]) == (50, 0), table  # memfd hugetlb included
    # Debian's kernels have no CONFIG_GUP_TEST: every GUP line pins through it; the
    # io_uring lines register buffers and agree with the model, but on 1 GB huge pages,
    # which the VM has none of
    assert {r.result for r in run.rows if "io_uring" not in r.line} == {SKIP}, table
    iouring = [r for r in run.rows if "io_uring" in r.line]
    assert {r.agree for r in iouring if "1048576 kB" not in r.line} == {True}, table
    assert {r.result for r in iouring if "1048576 kB" in r.line} == {SKIP}, table


@pytest.mark.slow
@needs_vm
def test_selftests_on_6_1_and_6_12(tmp_path: Path) -> None:
    for spec in ("6.1", "6.12"):
        source_or_skip(spec)
    runs = run_selftests(["6.1", "6.12"], workdir=tmp_path)
    old, new = runs
    assert [(r.test, r.result) for r in old.rows] == [("cow", SKIP), ("gup_longterm", SKIP)]
    assert all(r.reason.startswith("not in this kernel's source") for r in old.rows)
    table = "\n".join(f"{r.test} {r.number} {r.result} {r.line} {r.reason} {r.note}" for r in new.rows)
    s = summary(new)
    assert (s["errors"], s["disagree"], s["fail"]) == (0, 0, 0), table
    assert s["lines"] >= 820 and s["matched"] == 167 and s["agree"] >= 101, (s, table)
