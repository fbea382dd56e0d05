"""NUMA balancing of PMD-mapped THPs (change_huge_pmd, do_huge_pmd_numa_page and the
THP migration they start), each rule on both sides of its commit, observed through
the PMD the process is left with and the page it reaches (docs/research/thp-numa.md)."""

from __future__ import annotations

import textwrap

import pytest

from cowlab.invariants import resolve
from cowlab.model import PresentPte, pte_view
from tests.conftest import broken, run_builtin, run_text, scenario_text

BASE = 0x100  # the first region of a process starts here (PMD-aligned)
TWO_THREADS = "{name: T1, node: 0}; {name: T2, node: 0}"

THP_PINNED_SCAN = """
    - T1: {mmap: buf, pages: 4, thp: true}
    - T1: {write: buf}
    - T1: {pin: buf, as: dma, flags: [FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM], fast: true}
    - T2: numa_scan
"""
HINTING_FAULT = """
    - kernel: {move: T1, node: 1}
    - T1: {read: buf}
"""


def run_thp(steps: str, kernel: str, revert: tuple[str, ...] = ()):
    return run_text(scenario_text(steps, threads=TWO_THREADS, nodes=2, numa=True), kernel, revert)


def joined(*parts: str) -> str:
    """Step lists written at different indents, as one."""
    return "\n".join(textwrap.dedent(part).strip() for part in parts)


def pmd(result, vpn: int = BASE) -> PresentPte:
    m = result.machine
    view = pte_view(m.process_named("P").pte(vpn))
    assert type(view) is PresentPte and view.pmd
    return view


def node_reached(result, vpn: int = BASE) -> int:
    m = result.machine
    pfn = resolve(m, m.process_named("P").pid, vpn)
    assert pfn is not None
    return m.page(pfn).node


@pytest.mark.parametrize("kernel", ["v5.10", "v5.16", "v6.1", "v6.12"])
def test_change_huge_pmd_protects_a_pinned_thp_in_every_release(kernel: str) -> None:
    """The PTE path skips a pinned page from 80d47f5de5e3 on; the PMD path never did
    (up to v6.18), so the scan makes the pinned THP's PMD PROT_NONE."""
    view = pmd(run_thp(THP_PINNED_SCAN, kernel))
    assert view.protnone


def test_savedwrite_keeps_the_pmd_write_bit_until_6a56ccbcf6c6() -> None:
    assert pmd(run_thp(THP_PINNED_SCAN, "v6.1")).savedwrite
    assert not pmd(run_thp(THP_PINNED_SCAN, "v6.2")).savedwrite


def test_before_c5b5a3dd2c1f_a_pinned_thp_comes_back_read_only() -> None:
    """migrate_misplaced_transhuge_page() refuses the pinned THP (page_count 4 != 3) and
    maps the PMD again from vm_page_prot, losing savedwrite; from v5.14 the failed
    generic migration restores it writable (no second scan in between)."""
    steps = joined(THP_PINNED_SCAN, HINTING_FAULT)
    before = run_thp(steps, "v5.16", ("c5b5a3dd2c1f", "662aeea7536d"))
    after = run_thp(steps, "v5.16")
    for result in (before, after):
        assert broken(result) == []
        assert node_reached(result) == 0  # the pin kept the THP where it was
        assert not pmd(result).protnone
    assert not pmd(before).write
    assert pmd(after).write


@pytest.mark.parametrize("kernel", ["v5.10", "v5.16", "v6.12"])
def test_an_unpinned_thp_migrates_whole(kernel: str) -> None:
    """Up to v5.13 by its own copy (dirty, writable as the VMA), from v5.14 through PMD
    migration entries: either way the PMD maps a THP on the faulting node."""
    steps = joined(
        """
        - T1: {mmap: buf, pages: 4, thp: true}
        - T1: {write: buf}
        - T2: numa_scan
        """,
        HINTING_FAULT,
        "- T1: {write: buf}",
    )
    result = run_thp(steps, kernel)
    assert broken(result) == []
    for i in range(4):
        assert node_reached(result, BASE + i) == 1
        assert pmd(result, BASE + i).write


def test_a_shared_thp_is_not_isolated_from_662aeea7536d_to_728be28fae8c() -> None:
    """After fork the THP has two PMDs: v5.14-v6.7 refuse to isolate it for NUMA
    migration; before (page_count != 3) too; from 728be28fae8c it migrates, both PMDs
    with it."""
    steps = joined(
        """
        - T1: {mmap: buf, pages: 4, thp: true}
        - T1: {write: buf}
        - T1: {fork: C}
        - T2: numa_scan
        """,
        HINTING_FAULT,
    )
    held = run_thp(steps, "v6.6")
    moved = run_thp(steps, "v6.12")
    assert node_reached(held) == 0
    assert node_reached(moved) == 1
    m = moved.machine
    child = m.process_named("C")
    assert m.page(resolve(m, child.pid, BASE)).node == 1
    assert "not isolated" in "\n".join(str(e) for r in held.steps for e in r.events)


def test_gaudi_thp_breaks_only_between_3bff7e3f1f16_and_6c287605fd56() -> None:
    """The catalog's THP Gaudi interleaving: harmless while the PMD write fault reuses
    on the mapcount (<= v5.17), broken when it tests the refcount (v5.18), closed when a
    pinned exclusive THP cannot be unmapped for migration (v5.19)."""
    verdicts = {
        k: broken(run_builtin("gaudi-thp", k)) for k in ("v5.10.262", "v5.16", "v5.18", "v5.19", "v6.12")
    }
    assert verdicts == {
        "v5.10.262": [],
        "v5.16": [],
        "v5.18": ["pin_coherence", "no_lost_write"],
        "v5.19": [],
        "v6.12": [],
    }


FILE_PIN_FORK = """name: t
machine: {nodes: 1, numa_balancing: false}
files:
  - {name: data, pages: 1}
processes:
  - name: P
    threads:
      - {name: T1, node: 0}
steps:
  - T1: {mmap: map, file: data, prot: r}
  - T1: {read: map}
  - T1: {pin: map, as: ro, flags: [FOLL_PIN, FOLL_LONGTERM]}
  - T1: {fork: C}
"""


@pytest.mark.parametrize(
    ("kernel", "copied"),
    [("v5.16", True), ("v5.19", False), ("v5.10.152", True), ("v5.10.153", False)],
)
def test_fork_copies_a_pinned_page_cache_page_until_fb3d824d1a46(kernel: str, copied: bool) -> None:
    """v5.9-v5.18 copy_present_page() had no PageAnon test: the child of a process with
    a pinned page-cache page in a private file mapping got an anon copy of it;
    fb3d824d1a46 (v5.19; 5.10.153 by a stable-only patch) shares it."""
    result = run_text(FILE_PIN_FORK, kernel)
    m = result.machine
    parent = resolve(m, m.process_named("P").pid, BASE)
    child = resolve(m, m.process_named("C").pid, BASE)
    assert (parent != child) == copied
    assert m.page(child).anon == copied


def test_isolation_under_the_ptl_keeps_the_write_bit_from_ee86814b0562() -> None:
    """A page still in an LRU-add batch cannot be isolated.  Up to v6.10 the fault
    finds that out after dropping the lock and maps the PTE read-only (6a56ccbcf6c6);
    from ee86814b0562 it is refused under the lock and the PTE stays writable."""
    steps = joined(
        """
        - T1: {mmap: buf}
        - T1: {write: buf}
        - T2: numa_scan
        """,
        HINTING_FAULT,
    )
    before = run_thp(steps, "v6.12", ("ee86814b0562",))
    after = run_thp(steps, "v6.12")
    for result in (before, after):
        view = pte_view(result.machine.process_named("P").pte(BASE))
        assert type(view) is PresentPte and not view.protnone
    assert not pte_view(before.machine.process_named("P").pte(BASE)).write
    assert pte_view(after.machine.process_named("P").pte(BASE)).write


@pytest.mark.parametrize(("kernel", "node"), [("v6.6", 0), ("v6.12", 1)])
def test_a_pte_mapped_thp_migrates_from_d2136d749d76(kernel: str, node: int) -> None:
    """A VMA split turns the PROT_NONE PMD into PROT_NONE PTEs of the THP's subpages.
    Up to v6.9 do_numa_page left compound pages alone ("TODO: handle PTE-mapped THP")
    and only mapped the PTE again; from d2136d749d76 the whole folio migrates."""
    steps = joined(
        """
        - T1: {mmap: buf, pages: 4, thp: true}
        - T1: {write: buf}
        - T2: numa_scan
        - T1: {madvise: buf, advice: dontfork, first: 2, count: 2}
        """,
        HINTING_FAULT,
    )
    result = run_thp(steps, kernel)
    assert broken(result) == []
    view = pte_view(result.machine.process_named("P").pte(BASE))
    assert type(view) is PresentPte and not view.pmd and not view.protnone
    assert node_reached(result) == node


@pytest.mark.parametrize(("kernel", "protected"), [("v6.12", True), ("v6.15", False)])
def test_the_shared_estimate_of_a_partially_mapped_thp(kernel: str, protected: bool) -> None:
    """The parent maps the THP's first subpage, the child its second: two mms, two
    mappings.  v6.10's folio_likely_mapped_shared() reads the first subpage's mapcount
    (1) and calls it exclusive, so the scan protects it; v6.15's MM owner slots
    (003fde4492c8) know the child maps the folio, and the scan skips it."""
    steps = """
        - T1: {mmap: buf, pages: 4, thp: true}
        - T1: {write: buf}
        - T1: {madvise: buf, advice: dontneed, first: 2, count: 2}
        - T1: {fork: C}
        - C: {munmap: buf, first: 0, count: 1}
        - T1: {munmap: buf, first: 1, count: 1}
        - T2: numa_scan
    """
    result = run_thp(steps, kernel)
    view = pte_view(result.machine.process_named("P").pte(BASE))
    assert type(view) is PresentPte and not view.pmd
    assert view.protnone == protected
