"""Operations on part of a region split its VMA; addresses stay those of the region."""

from __future__ import annotations

import pytest

from cowlab.model import PresentPte, pte_view
from cowlab.scenario import ScenarioError
from tests.conftest import broken, run_text, scenario_text


def test_partial_mprotect_splits_and_protects_only_its_pages() -> None:
    result = run_text(
        scenario_text("""
        - T1: {mmap: buf, pages: 4}
        - T1: {write: "buf[1]"}
        - T1: {write: "buf[2]"}
        - T1: {mprotect: buf, prot: r, first: 1, count: 1}
    """),
        "v6.2",
    )
    proc = result.machine.processes[0]
    assert [(v.start, v.npages, v.writable) for v in proc.vmas] == [
        (0x100, 1, True),
        (0x101, 1, False),
        (0x102, 2, True),
    ]
    assert {v.name for v in proc.vmas} == {"buf"}
    assert pte_view(proc.pte(0x101)).write is False and pte_view(proc.pte(0x102)).write is True


def test_pinned_page_made_read_only_by_a_partial_mprotect_is_copied_on_v5_16() -> None:
    text = scenario_text("""
        - T1: {mmap: buf, pages: 4}
        - T1: {write: "buf[1]"}
        - T1: {pin: "buf[1]", as: p}
        - T1: {mprotect: buf, prot: r, first: 1, count: 2}
        - T1: {mprotect: buf, prot: rw, first: 1, count: 2}
        - T1: {write: "buf[1]"}
    """)
    assert broken(run_text(text, "v5.16")) == ["pin_coherence"]
    assert broken(run_text(text, "v6.2")) == []


def test_addresses_survive_a_partial_munmap() -> None:
    result = run_text(
        scenario_text("""
        - T1: {mmap: buf, pages: 3}
        - T1: {munmap: buf, count: 1}
        - T1: {write: "buf[2]"}
    """),
        "v6.2",
    )
    pte = pte_view(result.machine.processes[0].pte(0x102))
    assert type(pte) is PresentPte
    with pytest.raises(ScenarioError, match="that page of buf has been unmapped"):
        run_text(
            scenario_text("""
            - T1: {mmap: buf, pages: 3}
            - T1: {munmap: buf, count: 1}
            - T1: {read: buf}
        """),
            "v6.2",
        )


def test_range_outside_the_region_is_refused() -> None:
    with pytest.raises(ScenarioError, match="outside region buf"):
        run_text(
            scenario_text("""
            - T1: {mmap: buf, pages: 2}
            - T1: {madvise: buf, advice: dontneed, first: 1, count: 2}
        """),
            "v6.2",
        )
