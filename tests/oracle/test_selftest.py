"""The kernel's selftests against the catalog, without a VM: the line parser on recorded
outputs of both naming styles and on handwritten edge cases, the matching of lines with
catalog entries (filesystems included), the comparison, the error rows (a source that
is missing, a test that does not build, a panic, a program cut short), the source's
unpacking from a .deb made here, and the report section.

Recorded outputs (tests/oracle/data/selftest/): cow.c and gup_longterm.c of Debian's
linux-source-6.12 6.12.117-1~deb12u1 in the oracle's VM on that kernel (old style:
``# [RUN] NAME`` then a generic ``ok N`` text), and of linux-source-7.3 7.3.4-1~bpo13+1
on a 6.18.44 host (new style: the name on the result line, the reason in a message)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cowlab.cli import app
from cowlab.oracle import selftest, selftest_build
from cowlab.oracle.fetch import KernelFiles, PackageMissing
from cowlab.oracle.report import replace_section, section_of, selftest_markdown
from cowlab.oracle.selftest import (
    ERROR,
    FAIL,
    PASS,
    SKIP,
    XFAIL,
    XPASS,
    Entry,
    KernelRun,
    compare,
    match_line,
    normalize,
    parse_selftest,
    rows_from_output,
    rows_from_vm,
)
from cowlab.oracle.selftest_build import SelftestSource, build_selftests
from cowlab.oracle.vm import OK, PANIC, VmResult, split_output

DATA = Path(__file__).parent / "data" / "selftest"
VM_FS = {"tmp": "tmpfs", "cwd": "ext4"}


def recorded(name: str) -> str:
    path = DATA / name
    return gzip.open(path, "rt").read() if path.suffix == ".gz" else path.read_text()


# --- the parser -----------------------------------------------------------------


def test_old_style_cow_output() -> None:
    out = parse_selftest(recorded("cow-6.12.117-vm.txt.gz"))
    assert (out.plan, len(out.lines), out.problems) == (778, 778, ())
    assert out.totals == (428, 0, 4, 0, 346, 0)
    assert {line.style for line in out.lines} == {"old"}
    first, second = out.lines[0], out.lines[1]
    assert (first.number, first.name, first.status) == (1, "Basic COW after fork() ... with base page", PASS)
    assert first.reason == "No leak from parent into child"
    assert second.name == "Basic COW after fork() ... with swapped out base page"
    by = {line.number: line for line in out.lines}
    assert (by[161].name, by[161].status, by[161].reason) == (
        "vmsplice() + unmap in child ... with hugetlb (2048 kB)",
        XFAIL,
        "Leak from parent into child",
    )
    assert (by[758].status, by[758].reason) == (SKIP, "MADV_COLLAPSE failed: Invalid argument")
    assert by[758].name == "Basic COW after fork() when collapsing after fork() (fully shared)"
    assert by[762].name == "Basic COW ... with memfd"


def test_new_style_cow_output() -> None:
    out = parse_selftest(recorded("cow-7.3.4-host-6.18.44.txt.gz"))
    assert (out.plan, len(out.lines), out.problems) == (778, 778, ())
    assert {line.style for line in out.lines} == {"new"}
    by = {line.number: line for line in out.lines}
    assert (by[1].name, by[1].status, by[1].reason) == ("Basic COW after fork() ... with base page", PASS, "")
    # the SKIP directive carries the name; the reason is the message before it
    assert (by[2].name, by[2].status) == ("Basic COW after fork() ... with swapped out base page", SKIP)
    assert by[2].reason == "MADV_PAGEOUT did not work, is swap enabled?"
    assert (by[161].status, by[161].reason) == (XFAIL, "Leak from parent into child")


@pytest.mark.parametrize(
    ("name", "style"),
    [("gup_longterm-6.12.117-vm.txt", "old"), ("gup_longterm-7.3.4-host-6.18.44.txt", "new")],
)
def test_gup_longterm_outputs(name: str, style: str) -> None:
    out = parse_selftest(recorded(name))
    assert (out.plan, len(out.lines), out.problems) == (50, 50, ())
    assert {line.style for line in out.lines} == {style}
    assert out.lines[0].name == "R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd"
    assert (out.lines[0].status, out.lines[0].reason) == (SKIP, "gup_test not available")


def test_directives_and_names_without_run() -> None:
    text = """TAP version 13
1..7
ok 1 plain pass
not ok 2 plain fail
ok 3 # SKIP no swap
ok 4 # XFAIL known leak
ok 5 # XPASS fixed now
not ok 6 # error setup went wrong
# [RUN] case seven
ok 7 case seven #  with a message
# Totals: pass:2 fail:1 xfail:1 xpass:1 skip:1 error:1
"""
    out = parse_selftest(text)
    assert out.problems == ()
    got = [(t.name, t.status, t.reason, t.style) for t in out.lines]
    assert got == [
        ("plain pass", PASS, "", ""),
        ("plain fail", FAIL, "", ""),
        ("no swap", SKIP, "", ""),
        ("known leak", XFAIL, "", ""),
        ("fixed now", XPASS, "", ""),
        ("setup went wrong", ERROR, "", ""),
        ("case seven", PASS, "with a message", "new"),
    ]


def test_todo_directives() -> None:
    out = parse_selftest(
        "1..2\nnot ok 1 x # TODO later\nok 2 y # TODO later\n"
        "# Totals: pass:0 fail:0 xfail:1 xpass:1 skip:0 error:0\n"
    )
    assert [t.status for t in out.lines] == [XFAIL, XPASS] and out.problems == ()


def test_incomplete_outputs_are_problems() -> None:
    cut = "TAP version 13\n1..3\n# [RUN] a ... with memfd\nok 1 fine\n# [RUN] b ... with memfd\n"
    out = parse_selftest(cut)
    assert "1 results of 3 planned" in out.problems
    assert any("Totals" in p for p in out.problems) and out.unfinished == "b ... with memfd"
    lying = "1..1\nok 1 x\n# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n"
    assert any(p.startswith("Totals (0, 1") for p in parse_selftest(lying).problems)
    twice = "1..2\nok 1 x\nok 1 y\n# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0\n"
    assert "result numbers are not 1, 2, 3, ... in order" in parse_selftest(twice).problems
    assert "no plan line (1..N): the output is incomplete" in parse_selftest("ok 1 x\n").problems
    bail = "1..2\nnot ok 1 x\nBail out! 1 out of 1 tests failed\n"
    bail += "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n"
    assert parse_selftest(bail).problems == ("1 results of 2 planned (Bail out! 1 out of 1 tests failed)",)


def test_a_whole_program_skip() -> None:
    out = parse_selftest("TAP version 13\n1..0 # SKIP no THP support\n")
    assert (out.skipped, out.problems, out.lines) == ("no THP support", (), ())
    [row] = rows_from_output(
        "6.12", "cow", "TAP version 13\n1..0 # SKIP no THP support\n", 4, model_kernel="v6.12.117"
    )
    assert (row.line, row.result, row.reason) == ("", SKIP, "the whole program skipped: no THP support")


# --- matching --------------------------------------------------------------------


def test_normalize() -> None:
    assert (
        normalize("Basic COW ... with memfd") == normalize("Basic COW  with memfd") == "Basic COW with memfd"
    )
    assert normalize("io_uring fixed buffer with MAP_SHARED file mapping ... with memfd") == (
        "io_uring fixed buffer with MAP_SHARED file mapping with memfd"
    )


def test_catalog_lines_are_first_references() -> None:
    index = selftest.catalog_index()
    assert [e.scenario for e in index[("cow.c", "Basic COW after fork() with base page")]] == [
        "cow-basic-fork-base"
    ]
    assert [
        e.scenario for e in index[("cow.c", normalize("Basic COW after fork() ... with THP (2048 kB)"))]
    ] == ["cow-basic-fork-thp"]
    assert [e.scenario for e in index[("cow.c", "Basic COW with memfd")]] == ["cow-non-anon-basic-cow-memfd"]
    # a scenario that cites a cow.c line further down its references does not claim it
    claimed = {e.scenario for entries in index.values() for e in entries}
    assert "vmsplice-child-swap" not in claimed and "cow-vmsplice-unmap-child-swap" in claimed
    # every line is claimed once, and the family members say where their file is
    assert all(len(entries) == 1 for entries in index.values())
    [local] = index[
        ("gup_longterm", normalize("R/W longterm GUP pin in MAP_SHARED file mapping with local tmpfile"))
    ]
    assert local.fs == ("ext4",)


def test_match_by_name() -> None:
    m = match_line("cow", "Basic COW after fork() ... with PTE-mapped THP (2048 kB)")
    assert [e.scenario for e in m.entries] == ["cow-basic-fork-pte-thp"]
    for size in (16, 1024):  # one member claims the line at every multi-size THP size
        m = match_line("cow", f"Basic COW after fork() ... with PTE-mapped THP ({size} kB)")
        assert [e.scenario for e in m.entries] == ["cow-basic-fork-mthp-pte"]
    assert match_line("cow", "Basic COW after fork() ... with PTE-mapped THP (8 kB)").entries == ()
    m = match_line("cow", "R/O GUP-fast pin on R/O-mapped shared page ... with base page")
    assert [e.scenario for e in m.entries] == ["cow-ro-fast-pin-shared-base"]
    m = match_line("cow", "Basic COW after fork() ... with hugetlb (1048576 kB)")  # one member, both sizes
    assert [e.scenario for e in m.entries] == ["cow-basic-fork-hugetlb"]
    m = match_line("cow", "Basic COW ... with tmpfile", VM_FS)
    assert [e.scenario for e in m.entries] == ["cow-non-anon-basic-cow-tmpfile"]
    assert m.note == "the file was on tmpfs, the entry's on ext4"


RW_SHARED = "R/W longterm GUP pin in MAP_SHARED file mapping ... with "


def test_match_gup_longterm_by_filesystem() -> None:
    m = match_line("gup_longterm", RW_SHARED + "tmpfile", VM_FS)
    assert ([e.scenario for e in m.entries], m.fs, m.note) == (
        ["gup-longterm-rw-pin-shared-tmpfile"],
        "tmpfs",
        "",
    )
    m = match_line("gup_longterm", RW_SHARED + "local tmpfile", VM_FS)
    assert [e.scenario for e in m.entries] == ["gup-longterm-rw-pin-shared-local-tmpfile"]
    # /tmp on ext4 (this machine): the tmpfile line is the ext4 member's
    m = match_line("gup_longterm", RW_SHARED + "tmpfile", {"tmp": "ext4", "cwd": "ext4"})
    assert [e.scenario for e in m.entries] == ["gup-longterm-rw-pin-shared-local-tmpfile"]
    assert m.note == "the file was on ext4: compared with the member whose file is on ext4"
    m = match_line("gup_longterm", RW_SHARED + "memfd", {})
    assert [e.scenario for e in m.entries] == ["gup-longterm-rw-pin-shared-memfd"] and m.fs == "tmpfs"


def test_an_unknown_filesystem() -> None:
    ramfs = {"tmp": "ramfs", "cwd": "ramfs"}
    m = match_line("gup_longterm", RW_SHARED + "tmpfile", ramfs)
    assert (m.entries, m.expected, m.fs) == ((), SKIP, "ramfs")
    m = match_line("gup_longterm", "R/O longterm GUP pin in MAP_SHARED file mapping ... with tmpfile", ramfs)
    assert (m.entries, m.expected) == ((), "") and "no catalog member" in m.note
    m = match_line("gup_longterm", "io_uring fixed buffer with MAP_SHARED file mapping ... with memfd", VM_FS)
    assert [e.scenario for e in m.entries] == ["gup-longterm-iouring-shared-memfd"]
    line = f"1..1\n# [RUN] {RW_SHARED}tmpfile\nok 1 # SKIP Unknown filesystem\n"
    [row] = rows_from_output(
        "x",
        "gup_longterm",
        line + "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0\n",
        0,
        model_kernel="v6.12.117",
        fs=ramfs,
    )
    assert (row.expected, row.agree, row.matched) == (SKIP, True, True)


def test_compare() -> None:
    assert compare(PASS, PASS) is True and compare(FAIL, FAIL) is True
    assert compare(PASS, FAIL) is False and compare(FAIL, PASS) is False
    assert compare(XFAIL, FAIL) is True and compare(XFAIL, PASS) is False
    assert compare(XPASS, PASS) is True
    assert compare(SKIP, PASS) is None and compare(ERROR, FAIL) is None and compare(PASS, "") is None
    assert compare(SKIP, SKIP) is True and compare(PASS, SKIP) is False


def test_rows_of_the_recorded_vm_run() -> None:
    """What `cowlab oracle selftest --kernels 6.12` compared: no disagreement."""
    rows = rows_from_output(
        "6.12", "cow", recorded("cow-6.12.117-vm.txt.gz"), 0, model_kernel="v6.12.117", fs=VM_FS
    )
    rows += rows_from_output(
        "6.12",
        "gup_longterm",
        recorded("gup_longterm-6.12.117-vm.txt"),
        0,
        model_kernel="v6.12.117",
        fs=VM_FS,
    )
    assert len(rows) == 828 and all(r.line for r in rows)
    # every line; 388 SKIP (360 gup_test, 27 huge pages short of 1 GB ones, 1 MADV_COLLAPSE)
    assert sum(r.matched for r in rows) == 828
    assert sum(r.agree is True for r in rows) == 440 and not [r for r in rows if r.agree is False]
    hugetlb = next(r for r in rows if r.line == "vmsplice() + unmap in child ... with hugetlb (2048 kB)")
    assert (hugetlb.result, hugetlb.model, hugetlb.expected, hugetlb.agree) == (XFAIL, "broken", FAIL, True)


def test_entries_that_disagree_among_themselves() -> None:
    index = {
        ("cow.c", "x with base page"): (
            Entry("cow-basic-fork-base", "x"),
            Entry("cow-ro-pin-shared-base", "x"),
        )
    }
    text = "1..1\n# [RUN] x ... with base page\nok 1 fine\n"
    text += "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n"
    [row] = rows_from_output("5.10", "cow", text, 0, model_kernel="v5.10.262", index=index)
    assert (row.model, row.agree) == ("mixed", None) and "the entries disagree" in row.note


# --- errors ----------------------------------------------------------------------


def test_a_program_cut_short_is_an_error_row() -> None:
    text = "TAP version 13\n1..2\n# [RUN] Basic COW after fork() ... with base page\n"
    text += "ok 1 No leak from parent into child\n"
    text += "# [RUN] Basic COW after fork() ... with swapped out base page\n"
    rows = rows_from_output(
        "6.12",
        "cow",
        text,
        None,
        model_kernel="v6.12.117",
        cut_short="VM timeout: the program did not finish",
    )
    assert [r.result for r in rows] == [PASS, ERROR]
    assert rows[1].reason.startswith("VM timeout: the program did not finish; 1 results of 2 planned")
    assert rows[1].reason.endswith("it stopped in: Basic COW after fork() ... with swapped out base page")
    failed = "1..1\nok 1 x\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n"
    assert (
        rows_from_output("6.12", "cow", failed, 1, model_kernel="")[-1].reason
        == "exit status 1 without a failed line"
    )
    assert rows_from_output("6.12", "cow", failed, 139, model_kernel="")[-1].reason == "exit status 139"


def vm_with(status: str, output: str) -> VmResult:
    programs, finished = split_output(output)
    return VmResult(status, Path("/x/console.log"), output, 1.0, programs, finished)


def test_a_panic_is_an_error_row_per_program() -> None:
    body = (
        "=== cowlab begin cow\n" + recorded("gup_longterm-6.12.117-vm.txt") + "=== cowlab end cow status=0\n"
    )
    rows = rows_from_vm(vm_with(PANIC, body), "6.12", ["cow", "gup_longterm"], "v6.12.117", VM_FS)
    assert [(r.test, r.result, r.line) for r in rows] == [("cow", ERROR, ""), ("gup_longterm", ERROR, "")]
    assert all("VM panic" in r.reason and r.log == "/x/console.log" for r in rows)
    rows = rows_from_vm(vm_with(OK, body), "6.12", ["cow", "gup_longterm"], "v6.12.117", VM_FS)
    assert rows[-1].test == "gup_longterm" and rows[-1].result == ERROR and "no output" in rows[-1].reason


def fake_files(tmp_path: Path) -> KernelFiles:
    return KernelFiles(
        "6.12", "6.12.117+deb12-cloud-amd64", tmp_path / "v", tmp_path / "m", "6.12.117-1~deb12u1"
    )


def test_a_source_debian_does_not_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selftest, "ensure_kernel", lambda k, c: fake_files(tmp_path))

    def missing(*a: object) -> None:
        raise PackageMissing(
            "E: Can't find a source to download version '6.12.117-1~deb12u1' of 'linux-source-6.12'"
        )

    monkeypatch.setattr(selftest, "ensure_source", missing)
    [run] = selftest.run_selftests(["6.12"], ["cow", "gup_longterm"], cache_dir=tmp_path, workdir=tmp_path)
    assert [(r.test, r.result) for r in run.rows] == [("cow", ERROR), ("gup_longterm", ERROR)]
    assert run.rows[0].reason.startswith(
        "linux-source-6.12=6.12.117-1~deb12u1: PackageMissing: E: Can't find"
    )
    assert (run.booted, run.model_kernel) == ("6.12.117-1~deb12u1", "v6.12.117")


def fake_tree(root: Path, files: dict[str, str], directory: str = "mm") -> Path:
    tree = root / "linux-source-9.9"
    test_dir = tree / "tools" / "testing" / "selftests" / directory
    test_dir.mkdir(parents=True)
    for name, text in files.items():
        (test_dir / name).write_text(text)
    (tree / "usr" / "include").mkdir(parents=True)
    (tree / "tools" / "include" / "uapi").mkdir(parents=True)
    return tree


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_a_test_that_does_not_build_and_one_that_is_absent(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path, {"cow.c": "int main(void) { return undeclared; }\n", "vm_util.c": ""})
    source = SelftestSource("9.9", "9.9.1-1", tree, "mm", {"cow": True, "gup_longterm": False})
    builds = build_selftests(source, cache_dir=tmp_path / "cache")
    assert builds["cow"].exe is None and not builds["cow"].absent
    assert builds["cow"].problem.startswith("cow.c of linux-source-9.9 9.9.1-1 does not build: ")
    assert "undeclared" in builds["cow"].problem and builds["cow"].log and builds["cow"].log.is_file()
    assert builds["gup_longterm"].absent and builds["gup_longterm"].problem == (
        "not in this kernel's source: linux-source-9.9 9.9.1-1 has no "
        "tools/testing/selftests/mm/gup_longterm.c"
    )
    rows = selftest._absent_rows("9.9", builds)
    assert [(r.test, r.result) for r in rows] == [("cow", ERROR), ("gup_longterm", SKIP)]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_the_build_links_the_helpers_the_makefile_names(tmp_path: Path) -> None:
    main = '#include "local_config.h"\nint helper(void);\nint main(void) { return helper(); }\n'
    makefile = "$(TEST_GEN_FILES): vm_util.c extra.c\n"
    tree = fake_tree(
        tmp_path,
        {"cow.c": main, "vm_util.c": "", "extra.c": "int helper(void) { return 0; }\n", "Makefile": makefile},
    )
    source = SelftestSource("9.9", "9.9.1-1", tree, "mm", {"cow": True, "gup_longterm": False})
    build = build_selftests(source, ["cow"], cache_dir=tmp_path / "cache")["cow"]
    assert build.exe is not None and subprocess.run([str(build.exe)], check=False).returncode == 0
    assert "vm_util.c extra.c" in build.log.read_text() if build.log else False
    assert build_selftests(source, ["cow"], cache_dir=tmp_path / "cache")["cow"].cached


@pytest.mark.skipif(
    not all(shutil.which(t) for t in ("dpkg-deb", "xz", "tar")), reason="needs dpkg-deb, xz and tar"
)
def test_the_source_is_unpacked_from_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A linux-source .deb made here (a tree whose selftests dir is still vm/, with no
    cow.c): only the subset is unpacked, the package deleted, and the absence recorded."""
    src = tmp_path / "src"
    tree = fake_tree(src, {"Makefile": "", "vm_util.c": ""}, directory="vm")
    (tree / "drivers").mkdir()
    (tree / "drivers" / "big.c").write_text("not wanted\n")
    pkg = tmp_path / "pkg"
    (pkg / "usr" / "src").mkdir(parents=True)
    (pkg / "DEBIAN").mkdir()
    (pkg / "DEBIAN" / "control").write_text(
        "Package: linux-source-9.9\nVersion: 9.9.1-1\nArchitecture: all\n"
        "Maintainer: x <x@example>\nDescription: x\n"
    )
    subprocess.run(
        [
            "tar",
            "-cJf",
            str(pkg / "usr" / "src" / "linux-source-9.9.tar.xz"),
            "-C",
            str(src),
            "linux-source-9.9",
        ],
        check=True,
    )
    subprocess.run(
        ["dpkg-deb", "--build", str(pkg), str(tmp_path / "linux-source-9.9_9.9.1-1_all.deb")],
        check=True,
        capture_output=True,
    )

    def download(packages: list[str], opts: list[str], dest: Path) -> Path:
        assert packages == ["linux-source-9.9=9.9.1-1"]
        return Path(shutil.copy(tmp_path / "linux-source-9.9_9.9.1-1_all.deb", dest))

    monkeypatch.setattr(selftest_build, "apt_options", lambda branch, cache: [])
    monkeypatch.setattr(selftest_build, "download", download)
    monkeypatch.setattr(selftest_build, "_install_headers", lambda root: pytest.fail("no test, no headers"))
    source = selftest_build.ensure_source("9.9", "9.9.1-1", tmp_path / "cache")
    assert (source.directory, source.present) == ("vm", {"cow": False, "gup_longterm": False})
    assert (source.test_dir / "vm_util.c").is_file() and not (source.tree / "drivers").exists()
    assert not list((tmp_path / "cache").rglob("*.deb"))
    again = selftest_build.cached_source("9.9", "9.9.1-1", tmp_path / "cache")
    assert again is not None and again.present == source.present


# --- the report and the command -------------------------------------------------


def test_replace_section() -> None:
    doc = "# Report\n\ntext\n\n## Disagreements\n\nNone.\n"
    first = replace_section(doc, "## Selftests", "## Selftests\n\nA\n")
    assert first == doc + "\n## Selftests\n\nA\n"
    second = replace_section(first + "\n## After\n\nB\n", "## Selftests", "## Selftests\n\nC\n")
    assert second == doc + "\n## Selftests\n\nC\n\n## After\n\nB\n"
    assert section_of(second, "## Selftests") == "## Selftests\n\nC\n"
    assert section_of(doc, "## Selftests") == ""


def test_selftest_markdown() -> None:
    rows = rows_from_output(
        "6.12", "cow", recorded("cow-6.12.117-vm.txt.gz"), 0, model_kernel="v6.12.117", fs=VM_FS
    )
    run = KernelRun(
        "6.12",
        rows,
        "6.12.117-1~deb12u1",
        "6.12.117+deb12-cloud-amd64",
        "v6.12.117",
        "linux-source-6.12 6.12.117-1~deb12u1",
        VM_FS,
    )
    absent = KernelRun("6.1", [selftest.Row("6.1", "cow", "", SKIP, reason="not in this kernel's source")])
    text = selftest_markdown([run, absent], "cowlab oracle selftest --kernels 6.12,6.1")
    assert text.startswith("## Selftests\n") and "### Lines with a catalog entry" in text
    assert "| Basic COW after fork() ... with base page | cow-basic-fork-base | PASS / holds: agree |" in text
    assert "- 6.1, cow: SKIP: not in this kernel's source" in text
    assert "### Disagreements\n\nNone." in text
    # every line of the recorded run has its entry
    assert "### Lines with no catalog entry\n\nNone." in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kernels", "4.19"], "unknown kernel '4.19'"),
        (["--tests", "khugepaged"], "unknown selftest 'khugepaged'"),
    ],
)
def test_bad_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["oracle", "selftest", *args])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_oracle_run_keeps_the_selftests_section(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("# Old report\n\n## Selftests\n\nwhat `oracle selftest` wrote\n")
    args = ["oracle", "run", "rdma-fork", "--kernels", "host", "--report", str(report)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    text = report.read_text()
    assert text.startswith("# Oracle report: the model against real kernels")
    assert text.endswith("\n## Selftests\n\nwhat `oracle selftest` wrote\n") and "# Old report" not in text


def test_not_exported_is_grouped_by_reason() -> None:
    from cowlab.oracle.report import not_exported

    refused = {
        "a-thp": "steps[0] T1 mmap: option thp=True is not supported\nsteps[1] T1 write: P has no region",
        "b-thp": "steps[2] V1 mmap: option thp=True is not supported",
        "gaudi": "steps[6] T1 read: until: migrate.unmapped stops inside a NUMA migration",
    }
    assert not_exported(refused) == [
        "- option thp=True is not supported (2): a-thp, b-thp",
        "- until: migrate.unmapped stops inside a NUMA migration (1): gaudi",
    ]
