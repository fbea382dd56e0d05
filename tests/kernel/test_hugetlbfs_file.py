"""Files on hugetlbfs (memfd_create(MFD_HUGETLB)): every mapping of one is a hugetlb
mapping of the file's huge page.  A shared mapping maps the page-cache page (writable
when the VMA is: hugetlbfs has no dirty tracking), a private one maps it read-only and
its write copies it into an anon huge page (hugetlb_no_page, hugetlb_wp); a R/O
long-term pin unshares it the same way from 84209e87c696 (v6.2), and a long-term write
pin of a shared mapping is never refused (no writeback).  Observed through what the
processes read, the pfns they map and the pins."""

from __future__ import annotations

import pytest

from cowlab.model import state as S
from cowlab.scenario import ScenarioError, load_scenario
from tests.conftest import broken, loads, run_builtin, run_text
from tests.kernel.test_shared_file import pin_held, pte, scenario

RO_PIN = "{pin: mem, as: dev, flags: [FOLL_PIN, FOLL_LONGTERM]}"
RW_PIN = "{pin: mem, as: dev, flags: [FOLL_PIN, FOLL_WRITE, FOLL_LONGTERM]}"


def huge_page_of_the_file(result) -> int:
    pfn = S.file_page_pfn(result.machine, 0, 0)
    assert S.PageHuge(result.machine, pfn) and not S.PageAnon(result.machine, pfn)
    return pfn


def test_a_shared_mapping_maps_the_files_huge_page_writable_and_its_stores_are_the_files() -> None:
    steps = """
        - T1: {mmap: a, file: f, shared: true}
        - T1: {mmap: b, file: f, shared: true, prot: r}
        - T1: {read: a}
        - T1: {write: a}
        - T1: {read: b}
    """
    result = run_text(scenario(steps, fs="hugetlbfs"), "v6.18")
    before, after = loads(result)
    assert before != after != 0  # b reads a's store
    assert pte(result).write and pte(result).pfn == huge_page_of_the_file(result)
    assert broken(result) == []


def test_a_private_write_copies_the_huge_page_and_never_reaches_the_file() -> None:
    """cow.c's non-anon "Basic COW" with memfd hugetlb: the copy is an anon huge page."""
    result = run_builtin("cow-non-anon-basic-cow-memfd-hugetlb", "v6.18")
    _, before, after = loads(result)
    assert before == after and broken(result) == []
    copy = pte(result).pfn
    assert copy != huge_page_of_the_file(result)
    assert S.PageHuge(result.machine, copy) and S.PageAnon(result.machine, copy) and pte(result).write


@pytest.mark.parametrize(
    ("kernel", "revert", "coherent"), [("v6.2", (), True), ("v6.2", ("84209e87c696",), False)]
)
def test_a_ro_long_term_pin_of_a_private_mapping_unshares_the_huge_page_from_84209e87c696(
    kernel: str, revert: tuple[str, ...], coherent: bool
) -> None:
    """Before 84209e87c696 the pin keeps the file's page and the write copies away from
    it; from it the pin's unshare fault copies first and the write reuses the copy."""
    steps = f"""
        - T1: {{mmap: mem, file: f}}
        - T1: {{read: mem}}
        - T1: {RO_PIN}
        - T1: {{write: mem}}
        - device: {{dma_read: dev}}
    """
    result = run_text(scenario(steps, fs="hugetlbfs"), kernel, revert)
    assert broken(result) == ([] if coherent else ["ro_pin_coherence"])


@pytest.mark.parametrize("kernel", ["v6.4", "v6.5", "v6.18"])
@pytest.mark.parametrize("fast", [False, True])
def test_a_long_term_write_pin_of_a_shared_hugetlbfs_mapping_is_kept(kernel: str, fast: bool) -> None:
    """hugetlbfs writes nothing back: 8ac268436e6d and a6e79df92e4a let the pin stand."""
    pin = RW_PIN.replace("}", ", fast: true}") if fast else RW_PIN
    steps = f"- T1: {{mmap: mem, file: f, shared: true}}\n- T1: {{write: mem}}\n- T1: {pin}"
    result = run_text(scenario(steps, fs="hugetlbfs"), kernel)
    assert pin_held(result) and broken(result) == []


def test_fork_shares_a_shared_hugetlbfs_mapping() -> None:
    steps = """
        - T1: {mmap: a, file: f, shared: true}
        - T1: {write: a}
        - T1: {fork: C}
        - C: {write: a}
        - T1: {read: a}
    """
    result = run_text(scenario(steps, fs="hugetlbfs"), "v5.10")
    assert broken(result) == []
    assert pte(result, 0).pfn == pte(result, 1).pfn == huge_page_of_the_file(result)


def test_hugetlb_true_on_a_file_of_another_filesystem_is_a_located_error() -> None:
    with pytest.raises(ScenarioError, match=r"steps\[0\]\.T1\.hugetlb: file f is on tmpfs, not hugetlbfs"):
        load_scenario(scenario("- T1: {mmap: mem, file: f, hugetlb: true}", fs="tmpfs"), source="t.yaml")


def test_a_mapping_of_a_hugetlbfs_file_is_a_hugetlb_mapping_whether_it_says_so_or_not() -> None:
    for mmap in ("{mmap: mem, file: f}", "{mmap: mem, file: f, hugetlb: true}"):
        result = run_text(scenario(f"- T1: {mmap}\n- T1: {{read: mem}}", fs="hugetlbfs"), "v6.18")
        assert pte(result).pfn == huge_page_of_the_file(result)
