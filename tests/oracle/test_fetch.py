"""Kernels by exact version: the cache is looked up by Debian version, a version Debian
no longer serves is replaced by the newest one it serves (and said so), and with
nothing cached and no registry reachable the error says that, for tests to skip on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cowlab.oracle import fetch, race, runner
from cowlab.oracle.fetch import FetchError, RegistryUnreachable, ensure_kernel, parse_kernel
from cowlab.scenario.catalog import load_builtin


def fake_kernel(cache: Path, branch: str, debian: str, abi: str, layout: str = "new") -> Path:
    """A cached kernel whose image carries Debian's version banner."""
    root = cache / "kernels" / branch / (debian if layout == "new" else "") / "root"
    release = f"{branch}.0-{abi}-cloud-amd64"
    (root / "boot").mkdir(parents=True)
    (root / "lib" / "modules" / release).mkdir(parents=True)
    banner = (
        f"{release} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, "
        f"GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian {debian} (2026-01-01)"
    )
    vmlinuz = root / "boot" / f"vmlinuz-{release}"
    vmlinuz.write_bytes(b"\0" * 512 + banner.encode() + b"\0" * 512)
    return vmlinuz


def test_parse_kernel() -> None:
    assert parse_kernel("6.1") == ("6.1", "6.1.192")
    assert parse_kernel("5.10") == ("5.10", "5.10.262")
    assert parse_kernel("6.12") == ("6.12", "6.12.117")
    assert parse_kernel("v6.1.176") == ("6.1", "6.1.176")
    assert parse_kernel("6.12.118") == ("6.12", "6.12.118")
    with pytest.raises(FetchError, match=r"unknown kernel '4\.19'"):
        parse_kernel("4.19")


def test_the_cache_is_looked_up_by_exact_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_kernel(tmp_path, "6.1", "6.1.176-1", "50", layout="old")
    fake_kernel(tmp_path, "6.1", "6.1.192-3", "57")
    monkeypatch.setattr(fetch, "apt_options", lambda *a, **k: pytest.fail("no apt when it is cached"))
    old = ensure_kernel("6.1.176", tmp_path)
    assert (old.debian, old.release, old.model_kernel, old.note) == (
        "6.1.176-1",
        "6.1.0-50-cloud-amd64",
        "v6.1.176",
        "",
    )
    new = ensure_kernel("6.1", tmp_path)
    assert (new.debian, new.model_kernel) == ("6.1.192-3", "v6.1.192")


def test_a_version_no_longer_served_is_replaced_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_kernel(tmp_path, "6.1", "6.1.192-3", "57")
    monkeypatch.setattr(fetch, "apt_options", lambda *a, **k: [])
    served = [("linux-image-6.1.0-57-cloud-amd64-unsigned", "6.1.192-3")]
    monkeypatch.setattr(fetch, "served_images", lambda branch, opts: served)
    monkeypatch.setattr(fetch, "_depends", lambda meta, opts: "linux-image-6.1.0-57-cloud-amd64")
    files = ensure_kernel("6.1.176", tmp_path)
    assert (files.debian, files.model_kernel) == ("6.1.192-3", "v6.1.192")
    assert (
        files.note == "Debian no longer serves 6.1.176; it serves 6.1.192 (Debian 6.1.192-3), booted instead"
    )


def test_a_substitute_is_said_on_every_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = fetch.KernelFiles(
        "6.1",
        "6.1.0-57-cloud-amd64",
        tmp_path / "v",
        tmp_path / "m",
        "6.1.192-3",
        "",
        "Debian no longer serves",
    )
    monkeypatch.setattr(race, "ensure_kernel", lambda version, cache: files)
    monkeypatch.setattr(runner, "build_initramfs", lambda *a, **k: (_ for _ in ()).throw(OSError("no VM")))
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    [cell] = runner.run_on_kernels([load_builtin("cow-basic-fork-base")], ["6.1.176"], workdir=tmp_path)
    assert (cell.kernel, cell.booted, cell.model_kernel) == ("6.1.176", "6.1.192-3", "v6.1.192")
    assert cell.note.startswith("Debian no longer serves; OSError: no VM")


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get")
def test_no_registry_and_nothing_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """apt pointed at a proxy that refuses: RegistryUnreachable, naming what is cached."""
    conf = tmp_path / "apt.conf"
    conf.write_text('Acquire::http::Proxy "http://127.0.0.1:9";\nAcquire::Retries "0";\n')
    monkeypatch.setenv("APT_CONFIG", str(conf))
    fake_kernel(tmp_path, "6.1", "6.1.150-1", "40")
    served = fetch.served_images("6.1", [])
    if not any(v.startswith("6.1.192-") for _, v in served):
        pytest.skip("apt's lists do not know Debian's 6.1.192 (no apt-get update here)")
    with pytest.raises(RegistryUnreachable) as info:
        ensure_kernel("6.1", tmp_path)
    message = str(info.value)
    assert message.startswith("kernel 6.1.192 is not cached and no Debian registry answered")
    assert "the cache has 6.1.150-1" in message


def test_host_tools_include_the_module_build(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"make", "libelf1"} <= set(fetch.TOOLS)
