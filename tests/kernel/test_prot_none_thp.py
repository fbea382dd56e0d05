"""Random walks found three model bugs (issue 13): a /proc/pid/mem write into a THP made
PROT_NONE ran the NUMA hinting path on a VMA that has no access at all, and an mremap()
of a PMD-mapped THP to an address that is not PMD-aligned moved the PMD as it was.  The
kernel does neither: handle_pte_fault() and __handle_mm_fault() take a PROT_NONE entry
as a NUMA hint only in an accessible VMA (vma_is_accessible()), GUP follows PROT_NONE
entries of an inaccessible VMA (gup_can_follow_protnone(), d74943a2f3cd), and
move_page_tables() splits a PMD that it cannot move whole.  Each scenario now runs to
the end on every kernel, and the process reads what the forced write put there."""

from __future__ import annotations

import pytest

from tests.conftest import broken, loads, run_text, scenario_text

KERNELS = ["v5.8", "v5.16", "v6.2", "v6.5", "v6.12"]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("first", ["read", "write"])
def test_a_forced_write_into_a_prot_none_thp_lands_where_the_process_reads(kernel: str, first: str) -> None:
    result = run_text(
        scenario_text(f"""
        - T1: {{mmap: buf, pages: 4, thp: true}}
        - T1: {{{first}: "buf[0]"}}
        - T1: {{mprotect: buf, prot: none}}
        - T1: {{proc_mem_write: "buf[1]"}}
        - T1: {{mprotect: buf, prot: r}}
        - T1: {{read: "buf[1]"}}
        - T1: {{read: "buf[2]"}}
        - T1: {{munmap: buf}}
    """),
        kernel,
    )
    assert broken(result) == []
    written = 2 if first == "write" else 1  # the token of the /proc/pid/mem write
    assert loads(result)[-2:] == [written, 0]


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_thp_moved_to_an_unaligned_address_is_split_and_keeps_its_data(kernel: str) -> None:
    result = run_text(
        scenario_text("""
        - T1: {mmap: buf, pages: 4, thp: true}
        - T1: {proc_mem_write: "buf[0]"}
        - T1: {madvise: buf, advice: nohugepage}
        - T1: {mremap: buf, to: buf2}
        - T1: {madvise: buf2, advice: dontfork}
        - T1: {read: "buf2[0]"}
        - T1: {read: "buf2[3]"}
    """),
        kernel,
    )
    assert broken(result) == []
    assert loads(result) == [1, 0]


def test_before_8310d48b125d_the_forced_write_into_a_prot_none_thp_never_returns() -> None:
    """Up to v4.10 follow_trans_huge_pmd() ignored FOLL_COW, so the write fault that
    reuses the THP is taken again and again: the progress promise breaks, as it does
    for a read-only VMA (the model's own finding, not a crash)."""
    result = run_text(
        scenario_text("""
        - T1: {mmap: buf, pages: 4, thp: true}
        - T1: {write: "buf[0]"}
        - T1: {mprotect: buf, prot: none}
        - T1: {proc_mem_write: "buf[1]"}
    """),
        "v4.9",
    )
    assert broken(result) == ["progress"]
