"""Slow: a kernel built here, booted, and short race hunts in the VM.

``pytest -m slow tests/oracle/test_race_vm.py``.  The build takes about 7 minutes on two
cores the first time (then it is cached); the hunts 10 s of hunting per variant plus a
boot.  They check that the pieces work together and that what was booted is what was
asked for, not a rate: a hunt's hits are reported, never required."""

from __future__ import annotations

import pytest

from cowlab.oracle import kbuild, race
from cowlab.oracle.fetch import RegistryUnreachable

from .vmkit import needs_vm

pytestmark = [pytest.mark.slow, needs_vm]


def built_or_skip(variant: str) -> kbuild.BuiltKernel:
    try:
        return kbuild.build_kernel(variant)
    except RegistryUnreachable as e:
        pytest.skip(f"linux-source-5.10 is not cached and no Debian registry answered: {e}")


def test_build_the_revert_and_hunt_on_it() -> None:
    built = built_or_skip("revert")
    assert built.files.vmlinuz.is_file() and built.files.brd() is not None
    assert built.release == f"5.10.262{kbuild.local_version('revert', built.digest)}"
    patched = (built.tree / "mm" / "mprotect.c").read_text()
    assert "page_mapcount(page) != 1)" in patched
    config = (built.tree / ".config").read_text()
    assert kbuild.missing_options(config) == []
    cells = race.run_race("gaudi-open", ["built:revert"], seconds=10, pages=16)
    assert [c.variant for c in cells] == [race.BEFORE, race.AFTER]
    for c in cells:
        assert c.status == race.RAN, c.note
        assert c.release == built.release and c.booted == built.describe()
        assert c.model_kernel == "v5.10.262 --revert 80d47f5de5e3" and c.model == "broken"
        assert c.iterations > 0 and c.agree is not False


def test_a_short_hunt_on_debian_5_10() -> None:
    try:
        [cell] = race.run_race("gaudi", ["5.10"], seconds=10, pages=16)
    except RegistryUnreachable as e:
        pytest.skip(str(e))
    if cell.status == race.ERROR and "no Debian registry" in cell.note:
        pytest.skip(cell.note)
    assert cell.status == race.RAN, cell.note
    assert cell.booted.startswith("Debian 5.10.262") and cell.model == "holds"
    assert cell.iterations > 0 and cell.agree is not False
