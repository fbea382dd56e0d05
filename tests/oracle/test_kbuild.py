"""Kernels built here, without building one: the configuration, the cache key, the revert
patch applied (to a tree made from the patch's own pre-image, and to the cached Debian
tree when it is there), the cache.  A real build and boot: test_race_vm.py (slow)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cowlab.oracle import kbuild
from cowlab.oracle.fetch import cache_root

PATCH = kbuild.PATCH_DIR / "revert-80d47f5de5e3-5.10.patch"


def test_the_configuration_has_what_the_vm_needs() -> None:
    lines = kbuild.config_lines()
    for option in ("NUMA_BALANCING", "MIGRATION", "IO_URING", "TRANSPARENT_HUGEPAGE", "SWAP", "SCHED_DEBUG"):
        assert f"{option}=y" in lines
    assert "BLK_DEV_RAM=m" in lines and "MODULES=y" in lines and "SERIAL_8250_CONSOLE=y" in lines
    assert "DRM=n" in lines and "DEBUG_INFO=n" in lines
    assert not set(kbuild.ENABLE) & set(kbuild.DISABLE)
    [cmd] = kbuild.config_commands("revert", "1a2b3c4d")
    assert cmd[:3] == ["scripts/config", "--file", ".config"]
    assert cmd[cmd.index("NUMA_BALANCING") - 1] == "--enable"
    assert cmd[cmd.index("BLK_DEV_RAM") - 1] == "--module" and cmd[cmd.index("DRM") - 1] == "--disable"
    assert cmd[-3:] == ["--set-str", "LOCALVERSION", "-cowlab-revert-1a2b3c4d"]


def test_the_cache_key_follows_variant_source_and_patch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stock, revert = kbuild.build_digest("stock"), kbuild.build_digest("revert")
    assert stock != revert and len(stock) == 8
    assert kbuild.build_digest("stock", "5.10.262-2") != stock
    edited = tmp_path / PATCH.name
    edited.write_text(PATCH.read_text() + "\n")
    monkeypatch.setattr(kbuild, "PATCH_DIR", tmp_path)
    assert kbuild.build_digest("revert") != revert and kbuild.build_digest("stock") == stock
    with pytest.raises(ValueError, match="unknown kernel variant 'patched'"):
        kbuild.build_digest("patched")


def test_missing_options() -> None:
    config = "CONFIG_NUMA=y\nCONFIG_BLK_DEV_RAM=y\n# CONFIG_SCHED_DEBUG is not set\n"
    missing = kbuild.missing_options(config)
    assert "NUMA=y" not in missing and "BLK_DEV_RAM=m" in missing and "SCHED_DEBUG=y" in missing


def images(patch: Path) -> tuple[str, str]:
    """The patch's pre- and post-image of its one hunk (context and changed lines)."""
    body = patch.read_text().split("\n@@", 1)[1].split("\n", 1)[1]
    before = [ln[1:] for ln in body.splitlines() if ln[:1] in (" ", "-")]
    after = [ln[1:] for ln in body.splitlines() if ln[:1] in (" ", "+")]
    return "\n".join(before) + "\n", "\n".join(after) + "\n"


def test_the_revert_patch(tmp_path: Path) -> None:
    """It changes only the NUMA scanner's test, page_count -> page_mapcount, and says its
    license; applied to a hard-linked tree it leaves the pristine file alone."""
    text = PATCH.read_text()
    assert text.startswith("SPDX-License-Identifier: GPL-2.0") and "254090925e16" in text
    assert kbuild.patched_files(PATCH) == ["mm/mprotect.c"]
    changed = [ln for ln in text.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert [ln for ln in changed if "page_" in ln] == [
        "-\t\t\t\t    page_count(page) != 1)",
        "+\t\t\t\t    page_mapcount(page) != 1)",
    ]
    before, after = images(PATCH)
    pristine, tree = tmp_path / "pristine", tmp_path / "tree"
    (pristine / "mm").mkdir(parents=True)
    # the hunk's pre-image at the line the hunk names, so that patch finds it exactly
    start = int(text.split("\n@@ -", 1)[1].split(",", 1)[0])
    (pristine / "mm" / "mprotect.c").write_text("\n" * (start - 1) + before)
    shutil.copytree(pristine, tree, copy_function=os.link)
    kbuild.apply_patch(tree, PATCH)
    assert (tree / "mm" / "mprotect.c").read_text() == "\n" * (start - 1) + after
    assert (pristine / "mm" / "mprotect.c").read_text() == "\n" * (start - 1) + before
    with pytest.raises(kbuild.KbuildError, match="does not apply"):
        kbuild.apply_patch(tree, PATCH)  # already applied


def test_the_patch_applies_to_the_cached_debian_tree(tmp_path: Path) -> None:
    tree = kbuild.source_dir(cache_root()) / "linux-source-5.10"
    if not (tree / "mm" / "mprotect.c").is_file():
        pytest.skip("linux-source-5.10 5.10.262-1 is not unpacked in the cache (cowlab oracle build-kernel)")
    (tmp_path / "mm").mkdir()
    os.link(tree / "mm" / "mprotect.c", tmp_path / "mm" / "mprotect.c")
    kbuild.apply_patch(tmp_path, PATCH)
    patched = (tmp_path / "mm" / "mprotect.c").read_text()
    assert "page_mapcount(page) != 1)" in patched and "cowlab: revert of 80d47f5de5e3" in patched
    assert "cowlab" not in (tree / "mm" / "mprotect.c").read_text()


def test_the_cache(tmp_path: Path) -> None:
    assert kbuild.cached_build("revert", tmp_path) is None
    base = kbuild.build_dir("revert", tmp_path)
    base.mkdir(parents=True)
    release = f"5.10.262{kbuild.local_version('revert', kbuild.build_digest('revert'))}"
    data = {
        "debian": "5.10.262-1",
        "digest": kbuild.build_digest("revert"),
        "release": release,
        "seconds": 431.0,
    }
    (base / "build.json").write_text(json.dumps(data))
    built = kbuild.cached_build("revert", tmp_path)
    assert built is not None and built.cached and built.reverts == ("80d47f5de5e3",)
    assert built.files.vmlinuz == base / "out" / "bzImage" and built.tree == base / "tree"
    assert built.files.modules == base / "out" / "root" / "lib" / "modules" / release
    assert built.model_kernel == "v5.10.262" and built.release.startswith("5.10.262-cowlab-revert-")
    assert built.describe() == "linux-source-5.10 5.10.262-1, revert build"
    assert kbuild.cached_build("stock", tmp_path) is None
