"""The stops patches without building a kernel: each says its license, compiles in
exactly the stage names of the table (cowlab.oracle.stops), and applies to its Debian
tree when that tree is in the cache; kbuild's names for the builds.  A build booted:
test_stops_vm.py (slow)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from cowlab.oracle import kbuild, stops
from cowlab.oracle.fetch import cache_root

NAMES = re.compile(r'^\+\t\[COWLAB_STOP_(\w+)\] = "([^"]+)",$', re.M)
ENUM = re.compile(r"^\+\tCOWLAB_STOP_(\w+),$", re.M)


def patch_of(branch: str) -> Path:
    return kbuild.PATCH_DIR / f"stops-{branch}.patch"


@pytest.mark.parametrize("branch", stops.BRANCHES)
def test_the_patch_compiles_in_the_tables_stages(branch: str) -> None:
    text = patch_of(branch).read_text()
    assert text.startswith("SPDX-License-Identifier: GPL-2.0\n")
    names = NAMES.findall(text)
    assert tuple(n for _, n in names) == stops.supported(branch)
    # the enum has the same stops in the same order, and each is used at its point
    assert [k for k, _ in names] == [k for k in ENUM.findall(text) if k != "NR_STOPS"]
    for key, name in names:
        atomic = stops.BY_STAGE[name].busy_wait
        call = f"cowlab_stop{'_atomic' if atomic else ''}(COWLAB_STOP_{key});"
        assert text.count(call) == 1, (name, call)
    # the new files carry their own SPDX lines
    assert (
        "+// SPDX-License-Identifier: GPL-2.0" in text and "+/* SPDX-License-Identifier: GPL-2.0 */" in text
    )


@pytest.mark.parametrize("branch", stops.BRANCHES)
def test_the_patch_applies_to_the_cached_debian_tree(branch: str, tmp_path: Path) -> None:
    tree = kbuild.source_tree(cache_root(), branch)
    patch = patch_of(branch)
    changed = kbuild.patched_files(patch)
    new = {"mm/cowlab_stops.c", "include/linux/cowlab_stops.h"}
    assert new <= set(changed)
    if not all((tree / rel).is_file() for rel in set(changed) - new):
        pytest.skip(f"linux-source-{branch} {kbuild.SOURCES[branch]} is not unpacked in the cache")
    for rel in set(changed) - new:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(tree / rel, tmp_path / rel)
    kbuild.apply_patch(tmp_path, patch)
    for stage in stops.supported(branch):
        point = stops.BY_STAGE[stage].points[branch]
        rel, function = point.split()[:2]
        source = (tmp_path / rel).read_text()
        assert f'"{stage}"' in source, (stage, rel)
        assert function.rstrip(",").removesuffix("()") + "(" in source, (stage, function)
    assert "cowlab" not in (tree / "mm" / "migrate.c").read_text()
    assert not (tree / "mm" / "cowlab_stops.c").exists()


def test_the_table() -> None:
    for s in stops.STOPS:
        assert set(s.points) | set(s.left_out) == set(stops.BRANCHES), s.stage
        assert not set(s.points) & set(s.left_out), s.stage
    assert "gup.fast" not in stops.supported("6.12") and "migrate.unmapped" in stops.supported("5.10")
    assert "do_huge_pmd_numa_page.target_chosen" not in stops.supported("5.10")
    assert [row[0] for row in stops.table("6.1")] == [s.stage for s in stops.STOPS]
    with pytest.raises(ValueError, match="unknown branch"):
        stops.supported("4.19")


def test_the_build_names() -> None:
    assert kbuild.BUILT_NAMES == (
        "built:stock",
        "built:revert",
        "built:5.10-stops",
        "built:5.10-stops-revert",
        "built:6.1-stops",
        "built:6.12-stops",
    )
    assert kbuild.split_name("6.12-stops") == ("6.12", "stops")
    assert kbuild.split_name("revert") == ("5.10", "revert")
    assert kbuild.split_name("5.10-stock") == ("5.10", "stock")
    for bad in ("stops", "6.1-revert", "6.1-stock", "4.19-stops"):
        with pytest.raises(ValueError, match="unknown kernel variant"):
            kbuild.split_name(bad)
    assert [p.name for p in kbuild.patches("5.10-stops-revert")] == [
        "stops-5.10.patch",
        "revert-80d47f5de5e3-5.10.patch",
    ]
    with pytest.raises(ValueError, match="unknown built kernel"):
        kbuild.resolve_built("built:6.1-stock")


def test_stock_and_revert_keep_their_cache_keys() -> None:
    """The digest as it was before there were branches, so their cached builds stay found."""
    for variant, patch_names in (("stock", ()), ("revert", ("revert-80d47f5de5e3-5.10.patch",))):
        digest = hashlib.sha256()
        digest.update(b"linux-source-5.10=5.10.262-1\0")
        digest.update("\n".join(kbuild.config_lines()).encode() + b"\0")
        for name in patch_names:
            digest.update(name.encode() + b"\0" + (kbuild.PATCH_DIR / name).read_bytes() + b"\0")
        assert kbuild.build_digest(variant) == digest.hexdigest()[:8]
        assert kbuild.build_dir(variant, Path("/c")).parent == Path("/c/kbuild/5.10.262-1")


def test_a_built_stops_kernel_from_the_cache(tmp_path: Path) -> None:
    import json

    assert kbuild.resolve_built("built:6.12-stops", tmp_path) is None
    base = kbuild.build_dir("6.12-stops", tmp_path)
    assert base.parent.name == "6.12.117-1~deb12u1" and base.name.startswith("stops-")
    base.mkdir(parents=True)
    digest = kbuild.build_digest("6.12-stops")
    release = f"6.12.117{kbuild.local_version('6.12-stops', digest)}"
    data = {"debian": "6.12.117-1~deb12u1", "digest": digest, "release": release, "seconds": 800.0}
    (base / "build.json").write_text(json.dumps(data))
    built = kbuild.resolve_built("built:6.12-stops", tmp_path)
    assert built is not None and built.branch == "6.12" and built.variant == "stops"
    assert built.name == "6.12-stops" and built.model_kernel == "v6.12.117" and built.reverts == ()
    assert built.release == f"6.12.117-cowlab-stops-{digest}"
    assert built.describe() == "linux-source-6.12 6.12.117-1~deb12u1, stops build"


def test_the_stages_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cowlab.cli import app

    monkeypatch.setenv("COWLAB_CACHE", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["oracle", "stages", "--kernel", "built:6.1-stops", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["branch"] == "6.1" and data["built"] is False
    placed = tuple(s["stage"] for s in data["stages"] if s["supported"])
    assert placed == stops.supported("6.1")
    result = runner.invoke(app, ["oracle", "stages", "--kernel", "5.10"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "not built: cowlab oracle build-kernel --variant 5.10-stops" in text and "__unmap_and_move" in text
    for bad in (
        ["oracle", "stages", "--kernel", "built:revert"],
        ["oracle", "build-kernel", "--variant", "stops"],
    ):
        result = runner.invoke(app, bad)
        assert result.exit_code == 2, (bad, result.output)
