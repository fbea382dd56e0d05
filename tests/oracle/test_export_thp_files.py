"""export_c on THP regions, partial ranges, mremap, MAP_SHARED files and io_uring
registrations (no compiler needed)."""

from __future__ import annotations

import pytest

from cowlab.oracle import ExportError, export_c
from cowlab.oracle.program import Program
from cowlab.oracle.render import render
from cowlab.oracle.state import thp_layout
from cowlab.oracle.translate import translate
from cowlab.scenario.catalog import builtin_names, load_builtin
from tests.oracle.scenarios import load


def statements(program: Program) -> list[str]:
    """Every C statement the program's steps run, in order."""
    return [line for op in program.ops for line in op.body]


def test_thp_subpages_keep_the_selftests_ranges() -> None:
    # subpage 0 alone, then 1/4, 2/4 (the upper half), 3/4 of the 512 base pages
    assert thp_layout(4, "thp") == (0, 1, 256, 384, 512)
    assert thp_layout(8, "thp") == (0, 1, 256, 384, 512, 513, 768, 896, 1024)
    # a last partial unit is small pages, as no THP fits there in the model either
    assert thp_layout(6, "thp") == (0, 1, 256, 384, 512, 513, 514)
    # the 16 kB mTHP: 4 base pages for the model's 2
    assert thp_layout(4, "mthp") == (0, 1, 4, 5, 8)


def test_a_thp_region_is_aligned_and_checked_populated() -> None:
    source = export_c(load_builtin("cow-basic-fork-thp"))
    assert "region[0] = do_mmap_thp(512 * page_size, PROT_READ | PROT_WRITE);" in source
    assert 'store64(ADDR(0, 0), tokval(1));\n\tthp_populated(ADDR(0, 0), 512, "a THP");' in source
    assert "#define NEED_THP 1" in source and "#define NEED_MTHP 0" in source


def test_pte_mapping_single_pte_and_partial_sharing_use_subpage_offsets() -> None:
    single = export_c(load_builtin("cow-basic-fork-single-pte-thp"))
    assert "do_mprotect(ADDR(0, 1), 255 * page_size, PROT_READ);" in single
    assert "do_madvise(ADDR(0, 1), 511 * page_size, MADV_DONTNEED);" in single
    shared = export_c(load_builtin("cow-basic-fork-shared-thp"))
    assert "do_madvise(ADDR(0, 1), 511 * page_size, MADV_DONTFORK);" in shared
    # the child X maps only subpage 0; the unit was populated already: no second check
    assert shared.count("thp_populated(ADDR") == 1


def test_mremap_of_the_upper_half_moves_the_tokens_and_the_region() -> None:
    program = translate(load_builtin("cow-basic-fork-mremap-thp"))
    body = statements(program)
    assert "region[1] = do_mremap(ADDR(0, 256), 256 * page_size);" in body
    # the case still runs on the lower half, which stayed
    assert "check_value(1, load64(ADDR(0, 0)), 1, KNOWN(1));" in body


MOVED = """
name: moved
machine: {nodes: 1, numa_balancing: false}
processes: [{name: P, threads: [{name: T1}]}]
steps:
  - T1: {mmap: mem, pages: 4, thp: true}
  - T1: {write: "mem[3]"}
  - T1: {mremap: mem, to: moved, first: 2, count: 2}
  - T1: {read: "moved[1]"}
  - T1: {read: "mem[3]"}
"""


def test_a_page_mremap_moved_away_is_gone_from_the_old_region() -> None:
    with pytest.raises(ExportError) as info:
        export_c(load(MOVED))
    assert info.value.problems == (
        "steps[4] T1 read: page 3 of region mem is no longer mapped: the access would fault (SIGSEGV)",
    )
    ok = translate(load(MOVED.rsplit('  - T1: {read: "mem[3]"}', 1)[0]))
    body = statements(ok)
    assert "check_value(1, load64(ADDR(1, 128)), 1, KNOWN(1));" in body


MTHP = """
name: mthp
machine: {nodes: 1, numa_balancing: false}
processes: [{name: P, threads: [{name: T1}]}]
steps:
  - T1: {mmap: mem, pages: 2, mthp: true}
  - T1: {read: mem}
  - T1: {write: mem}
  - T1: {madvise: mem, advice: dontneed, first: 1, count: 1}
"""


def test_collapse_and_mthp() -> None:
    collapse = export_c(load_builtin("cow-thp-collapse-after-fork-lower-shared"))
    assert "do_collapse(ADDR(0, 0), 512 * page_size);" in collapse
    assert "do_madvise(ADDR(0, 256), 256 * page_size, MADV_DONTFORK);" in collapse
    mthp = export_c(load(MTHP))
    assert "do_mmap_thp(4 * page_size, PROT_READ | PROT_WRITE);" in mthp
    # a read maps the small zero page (no check), the first write a whole 16 kB folio
    assert mthp.count("thp_populated(ADDR") == 1
    assert 'store64(ADDR(0, 0), tokval(1));\n\tthp_populated(ADDR(0, 0), 4, "a 16 kB mTHP");' in mthp
    # "all but the first subpage" of the folio
    assert "do_madvise(ADDR(0, 1), 3 * page_size, MADV_DONTNEED);" in mthp
    assert "#define NEED_MTHP 1" in mthp


def test_a_read_of_a_fresh_thp_range_expects_the_huge_zero_page() -> None:
    source = export_c(load_builtin("cow-non-anon-basic-cow-huge-zeropage"))
    assert 'thp_populated(ADDR(0, 0), 512, "the huge zero page");' in source


def test_swap_out_of_a_thp_checks_each_model_page() -> None:
    source = export_c(load_builtin("cow-basic-fork-thp-swap"))
    assert "do_madvise(ADDR(0, 0), 512 * page_size, MADV_PAGEOUT);" in source
    assert "pageout_left(ADDR(0, 0), 0, 1);" in source and "pageout_left(ADDR(0, 384), 3, 0);" in source


SHARED = """
name: shared-file
machine: {nodes: 1, numa_balancing: false}
files: [{name: f, pages: 2, fs: FS}]
processes: [{name: P, threads: [{name: T1}]}]
steps:
  - T1: {mmap: s, file: f, pages: 2, shared: true}
  - T1: {mmap: p, file: f, pages: 2}
  - T1: {write: "s[1]"}
  - T1: {fork: C}
  - C: {read: "p[1]"}
  - T1: {write: "p[1]"}
  - C: {write: "s[1]"}
  - T1: {read: "s[1]"}
  - T1: {read: "p[1]"}
"""


@pytest.mark.parametrize(("fs", "disk"), [("tmpfs", 0), ("ext4", 1)])
def test_stores_through_a_shared_mapping_reach_the_file(fs: str, disk: int) -> None:
    source = export_c(load(SHARED.replace("FS", fs)))
    assert (
        "region[0] = do_mmap(2 * page_size, PROT_READ | PROT_WRITE, file_rw[0], MAP_KIND_SHARED);" in source
    )
    assert (
        "region[1] = do_mmap(2 * page_size, PROT_READ | PROT_WRITE, file_ro[0], MAP_KIND_PRIVATE);" in source
    )
    # a private page never written reads the file as it is now; the child's store
    # through the shared mapping is what the parent reads there, and what the file holds
    assert "check_value(1, load64(ADDR(1, 1)), 3, KNOWN(1));" in source
    assert "check_value(2, load64(ADDR(0, 1)), 5, KNOWN(2));" in source
    assert "check_value(3, load64(ADDR(1, 1)), 4, KNOWN(3));" in source
    assert "HELPER const int file_0_final[] = { 1, 5 };" in source
    assert f'make_file(0, "f", 2, file_0_tokens, {disk}, 0);' in source
    assert f"#define NEED_DISK_FILE {disk}" in source


def test_a_long_term_write_pin_of_a_file_with_writeback_is_checked() -> None:
    source = export_c(load_builtin("gup-longterm-rw-pin-shared-local-tmpfile"))
    assert "pin_step_file(&pin[0], ADDR(0, 0), COWLAB_PIN_WRITE | COWLAB_PIN_LONGTERM, " in source
    assert '"file_pin_writeback"' in source
    memfd = export_c(load_builtin("gup-longterm-rw-pin-shared-memfd"))
    assert "pin_step_file(&pin" not in memfd and "pin_step(&pin[0], ADDR(0, 0)" in memfd


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("gup-longterm-iouring-shared-local-tmpfile", "EXPECT_REFUSED"),
        ("gup-longterm-iouring-shared-memfd", "EXPECT_OK"),
        ("gup-longterm-iouring-private-local-tmpfile", "EXPECT_OK"),
    ],
)
def test_io_uring_registrations_check_what_the_program_expects(name: str, outcome: str) -> None:
    program = translate(load_builtin(name))
    body = statements(program)
    assert f"pin_uring(&pin[0], ADDR(0, 0), {outcome}, 1);" in body
    assert program.checks[0].promise == "call_result"
    # io_uring, never the module, whatever --pins says
    assert not program.needs_module("module") and program.uring_calls == 1


def test_only_stops_inside_migration_are_refused() -> None:
    refused = []
    for name in builtin_names():
        try:
            translate(load_builtin(name))
        except ExportError as exc:
            assert all("stops inside a NUMA migration" in p for p in exc.problems), exc.problems
            refused.append(name)
    assert set(refused) <= {"gaudi", "gaudi-affinity", "gaudi-no-numa-balancing", "gaudi-thp"}


def test_a_file_on_hugetlbfs_is_a_memfd_of_huge_pages_mapped_in_huge_page_units() -> None:
    """Never the plain memfd it is not: MFD_HUGETLB, filled through a shared mapping
    (hugetlbfs has no write()), one huge page per model page, reserved beforehand."""
    program = translate(load_builtin("cow-non-anon-basic-cow-memfd-hugetlb"))
    [file] = program.files
    assert file.huge and not file.disk
    assert program.huge_pages == 1 + 1  # the file's page and the private copy
    text = render(program)
    assert 'make_file(0, "f", 1, file_0_tokens, 0, 1);' in text
    body = statements(program)
    assert (
        "region[0] = do_mmap(1 * HPAGE_SIZE, PROT_READ | PROT_WRITE, file_ro[0], MAP_KIND_PRIVATE);" in body
    )
