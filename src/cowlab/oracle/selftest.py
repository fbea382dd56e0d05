"""The kernel's own selftests against the catalog: ``cowlab oracle selftest``.

cow.c and gup_longterm.c, built from the Debian source of each booted kernel
(cowlab.oracle.selftest_build), run as root in the oracle's VM (or on this machine
for ``host``); every result line is matched with the catalog entry of the same name
and compared with the model's verdict on that entry at exactly the version booted
(docs/oracle.md, "The kernel's selftests").

**Line names.**  A kselftest result line is ``ok N TEXT``, ``not ok N TEXT`` or
``ok N # SKIP|XFAIL|XPASS REASON`` (``not ok N # error REASON``).  cow.c and
gup_longterm.c print ``# [RUN] NAME`` before each test; the line's name is the last
``[RUN]`` message before its result.  In the old style (up to v6.15) the result's
TEXT is generic ("No leak from parent into child"); in the new style (log_test_start
and log_test_result, v6.16 on) it is the name again (the SKIP and XFAIL directives
carry the name too, with the reason in a ``#`` message before).  Without a ``[RUN]``
the result's own text is the name.

**Matching.**  A catalog entry claims the selftest lines its references start with,
``cow.c: NAME`` or ``gup_longterm: NAME`` (one, or one per size when the selftest runs
it at sizes the model does not tell apart: cowlab.scenario.family); a selftest line
cited further down is a citation, not a claim.  A line and an entry match when their
names are equal after collapsing white space and reading ``... with`` as ``with`` (the
selftests print ``Basic COW ... with memfd``, the families' references say ``Basic
COW with memfd``).  gup_longterm's file backings are matched by filesystem as well:
``memfd`` is tmpfs, ``tmpfile`` is on the filesystem of /tmp and ``local tmpfile`` on
that of the working directory (both read with ``stat -f``), and the line is compared
with the family member of the same case whose file is on that filesystem (the
``tmpfile`` member models tmpfs, ``local-tmpfile`` ext4).  On a filesystem the test
does not know (not tmpfs, hugetlbfs, ext4, xfs or btrfs) a R/W pin of a MAP_SHARED
mapping must SKIP "Unknown filesystem"; other lines on such a filesystem have no
entry.

**Comparison.**  The model holds: PASS expected; broken: FAIL expected.  XFAIL (the
test saw the failure it expects) counts as a failure, XPASS as a pass.  A SKIP is no
verdict.  A test that does not build, a source package Debian does not serve, a VM
that panics, a program cut short: error rows, never verdicts.
"""

from __future__ import annotations

import itertools
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from cowlab.oracle.fetch import FetchError, KernelFiles, cache_root, ensure_kernel, say
from cowlab.oracle.initramfs import InitramfsError, build_initramfs
from cowlab.oracle.runner import BOOT_S, booted_as_expected, check_arguments, host_model_kernel, model_verdict
from cowlab.oracle.selftest_build import (
    TESTS,
    SelftestBuild,
    SelftestError,
    build_selftests,
    ensure_source,
    fetch_error,
)
from cowlab.oracle.tap import TOTALS
from cowlab.oracle.vm import OK, TIMEOUT, VmResult, boot

PASS, FAIL, SKIP, XFAIL, XPASS, ERROR = "PASS", "FAIL", "SKIP", "XFAIL", "XPASS", "ERROR"
#: seconds a selftest may run inside the VM (cow.c is ~800 tests under TCG)
SELFTEST_TIMEOUT_S = 900
#: huge pages the VM reserves (cow.c and gup_longterm need two per hugetlb test)
HUGEPAGES = 32
#: the branch whose source the host runs (the host's own kernel is no Debian kernel)
HOST_SOURCE_BRANCH = "6.12"
#: statfs f_type -> name, as gup_longterm's get_fs_type() knows them, and a few more
FS_TYPES = {
    0x01021994: "tmpfs",
    0xEF53: "ext4",
    0x958458F6: "hugetlbfs",
    0x9123683E: "btrfs",
    0x58465342: "xfs",
    0x858458F6: "ramfs",
    0x794C7630: "overlayfs",
    0x6969: "nfs",
    0x65735546: "fuse",
}
#: the filesystems gup_longterm knows (others: "Unknown filesystem")
KNOWN_FS = ("tmpfs", "hugetlbfs", "ext4", "xfs", "btrfs")
#: marker lines of the selftest boot: the filesystems of /tmp and of the working directory
FS_MARK = "=== cowlab fs "
_RESULT = re.compile(r"(not ok|ok)\s+(\d+)\b\s?(.*)$")
_DIRECTIVE = re.compile(r"#\s*(SKIP|XFAIL|XPASS|TODO|error)\b\s*(.*)$", re.IGNORECASE)
_PLAN = re.compile(r"1\.\.(\d+)\b")
_RUN = re.compile(r"#\s*\[RUN\]\s*(.*?)\s*$")
_FS = re.compile(re.escape(FS_MARK) + r"tmp=(\w*) cwd=(\w*)")
_WITH = re.compile(r"\s+\.\.\.\s+with\s+")
_GUP_BACKING = re.compile(r"^(.*?) \.\.\. with (memfd|tmpfile|local tmpfile)$")


# --- the output of one selftest ---------------------------------------------------


@dataclass(frozen=True)
class SelftestLine:
    number: int
    #: the test's name: the [RUN] message before the result (or the result's text)
    name: str
    #: PASS, FAIL, SKIP, XFAIL, XPASS or ERROR
    status: str
    #: what the result line says after its number, directive included
    text: str
    #: the SKIP/XFAIL/error reason, or the result's own words when they are not the name
    reason: str = ""
    #: old (generic result text), new (the name on the result line), or "" (no [RUN])
    style: str = ""


@dataclass(frozen=True)
class SelftestOutput:
    lines: tuple[SelftestLine, ...]
    plan: int | None
    #: the counts of the ``# Totals`` line
    totals: tuple[int, ...] | None
    #: why the output is incomplete or inconsistent ("" entries never)
    problems: tuple[str, ...]
    #: the [RUN] name a stop cut short (no result after it)
    unfinished: str = ""
    #: ``1..0 # SKIP WHY``: the whole program skipped, and why
    skipped: str | None = None
    #: the ``Bail out!`` line, if any (kselftest prints one when a test failed)
    bail: str = ""


def _status(ok: bool, directive: str | None) -> str:
    if directive is None:
        return PASS if ok else FAIL
    d = directive.upper()
    if d == "SKIP":
        return SKIP
    if d == "XFAIL" or (d == "TODO" and not ok):
        return XFAIL
    if d == "XPASS" or d == "TODO":
        return XPASS
    return ERROR if not ok else PASS


def parse_selftest(text: str) -> SelftestOutput:
    """The result lines of a kselftest program's output, named (module docstring)."""
    lines: list[SelftestLine] = []
    problems: list[str] = []
    plan: int | None = None
    totals: tuple[int, ...] | None = None
    run: str | None = None
    messages: list[str] = []
    skipped: str | None = None
    bail = ""
    for raw in text.replace("\r", "").split("\n"):
        line = raw.rstrip()
        if not line:
            continue
        if line.startswith("Bail out!"):
            bail = line
        elif m := _RUN.match(line):
            run, messages = m[1], []
        elif m := TOTALS.match(line):
            totals = tuple(int(g) for g in m.groups())
        elif line.startswith("#"):
            messages.append(line[1:].strip())
        elif m := _PLAN.match(line):
            if plan is not None:
                problems.append(f"a second plan {line!r}")
            plan = int(m[1])
            d = _DIRECTIVE.search(line)
            if plan == 0 and d is not None and d[1].upper() == "SKIP":
                skipped = d[2].strip()
        elif m := _RESULT.match(line):
            ok, number, rest = m[1] == "ok", int(m[2]), m[3].strip()
            d = _DIRECTIVE.search(rest)
            directive, said = (d[1], d[2].strip()) if d else (None, "")
            desc = rest[: d.start()].strip() if d else rest
            if d is None and " #  " in desc:  # ksft_test_result_code: "NAME #  MESSAGE"
                desc, said = (part.strip() for part in desc.split(" #  ", 1))
            name = run if run is not None else (desc or said)
            if run is None:
                style = ""
            elif run in (desc, said):
                style = "new"
            else:
                style = "old"
            words = [w for w in (desc, said) if w and w != name]
            reason = " ".join(words) or (messages[-1] if messages else "")
            lines.append(SelftestLine(number, name, _status(ok, directive), rest, reason, style))
            run, messages = None, []
    numbers = [t.number for t in lines]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append("result numbers are not 1, 2, 3, ... in order")
    if plan is None:
        problems.append("no plan line (1..N): the output is incomplete")
    elif len(lines) != plan:
        problems.append(f"{len(lines)} results of {plan} planned" + (f" ({bail})" if bail else ""))
    if totals is None and skipped is None:
        problems.append("no '# Totals' line: the program did not end through kselftest")
    if totals is not None:
        counted = tuple(sum(t.status == s for t in lines) for s in (PASS, FAIL, XFAIL, XPASS, SKIP, ERROR))
        if counted != totals:
            order = "pass fail xfail xpass skip error"
            problems.append(f"Totals {totals} but the lines count {counted} ({order})")
    return SelftestOutput(tuple(lines), plan, totals, tuple(problems), run or "", skipped, bail)


# --- the catalog ---------------------------------------------------------------


def normalize(name: str) -> str:
    """``Basic COW ... with memfd`` and ``Basic COW with memfd`` are the same line."""
    return _WITH.sub(" with ", " ".join(name.split()))


@dataclass(frozen=True)
class Entry:
    scenario: str
    #: the selftest line it claims, as written in its reference
    line: str
    #: the filesystems of its files
    fs: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def catalog_index() -> dict[tuple[str, str], tuple[Entry, ...]]:
    """(cow.c | gup_longterm, normalized line name) -> the built-in entries claiming it."""
    from cowlab.scenario.catalog import builtin_names, load_builtin

    index: dict[tuple[str, str], list[Entry]] = {}
    prefixes = tuple(f"{p}: " for p in TESTS.values())
    for name in builtin_names():
        scn = load_builtin(name)
        for reference in itertools.takewhile(lambda r: r.startswith(prefixes), scn.references):
            prefix, line = reference.split(": ", 1)
            entry = Entry(name, line, tuple(f.fs for f in scn.files))
            index.setdefault((prefix, normalize(line)), []).append(entry)
    return {k: tuple(v) for k, v in index.items()}


@dataclass(frozen=True)
class Match:
    entries: tuple[Entry, ...] = ()
    #: a result the line must have without the model: SKIP ("Unknown filesystem")
    expected: str = ""
    #: the filesystem of the line's file (gup_longterm's file backings)
    fs: str = ""
    note: str = ""


def _shared_write(case: str) -> bool:
    """gup_longterm refuses these on a filesystem it does not know (SKIP)."""
    return "MAP_SHARED" in case and case.startswith(("R/W", "io_uring"))


def match_line(
    test: str,
    name: str,
    fs: dict[str, str] | None = None,
    index: dict[tuple[str, str], tuple[Entry, ...]] | None = None,
) -> Match:
    """The catalog entries a result line of ``test`` (cow, gup_longterm) is compared with.

    ``fs``: ``tmp`` and ``cwd`` -> the filesystem /tmp and the working directory were on."""
    index = catalog_index() if index is None else index
    prefix = TESTS[test]
    entries = index.get((prefix, normalize(name)), ())
    spelled = normalize(name).replace(" with ", " ... with ")
    m = _GUP_BACKING.match(spelled) if test == "gup_longterm" else None
    if m is None:
        tmp = (fs or {}).get("tmp", "")
        if test == "cow" and spelled.endswith(" ... with tmpfile") and tmp:
            other = sorted({f for e in entries for f in e.fs if f != tmp})
            note = f"the file was on {tmp}, the entry's on {', '.join(other)}" if other else ""
            return Match(entries, fs=tmp, note=note)
        return Match(entries)
    case, backing = m[1], m[2]
    fs = fs or {}
    where = {"memfd": "tmpfs", "tmpfile": fs.get("tmp", ""), "local tmpfile": fs.get("cwd", "")}
    on = where[backing]
    if not on:
        return Match(entries, note="the filesystem of the file is unknown: compared by name only")
    family = [
        e
        for b in ("memfd", "tmpfile", "local tmpfile")
        for e in index.get((prefix, normalize(f"{case} with {b}")), ())
    ]
    if not family:
        return Match((), fs=on)
    members = [e for e in family if e.fs == (on,)]
    same = [e for e in members if normalize(e.line) == normalize(name)]
    chosen = tuple(same or members[:1])
    if chosen:
        note = "" if same else f"the file was on {on}: compared with the member whose file is on {on}"
        return Match(chosen, fs=on, note=note)
    if on not in KNOWN_FS and _shared_write(case):
        return Match((), SKIP, on, f"{on} is a filesystem gup_longterm does not know: SKIP expected")
    return Match((), fs=on, note=f"no catalog member of this case has its file on {on}")


# --- rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    kernel: str
    #: cow or gup_longterm
    test: str
    #: the line's name ("" for a row about the whole program)
    line: str
    #: PASS FAIL SKIP XFAIL XPASS ERROR
    result: str
    number: int | None = None
    reason: str = ""
    #: the catalog entries compared with
    entries: tuple[str, ...] = ()
    #: holds / broken / error / mixed; "" without an entry
    model: str = ""
    invariant: str | None = None
    #: PASS / FAIL from the model, SKIP where the line must skip, "" without an entry
    expected: str = ""
    #: None when not compared (skip, error, no entry)
    agree: bool | None = None
    note: str = ""
    #: the filesystem of the line's file (gup_longterm's tmpfile, local tmpfile)
    fs: str = ""
    #: the Debian version booted ("" for the host), its uname -r, the model kernel
    booted: str = ""
    release: str = ""
    model_kernel: str = ""
    #: the source the selftest was built from: linux-source-6.12 6.12.117-1~deb12u1
    source: str = ""
    log: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @property
    def compared(self) -> bool:
        return self.agree is not None

    @property
    def matched(self) -> bool:
        return bool(self.entries) or self.expected == SKIP


def _expected(model: str) -> str:
    return {"holds": PASS, "broken": FAIL}.get(model, "")


def compare(result: str, expected: str) -> bool | None:
    if not expected or result in (ERROR,):
        return None
    if expected == SKIP:
        return result == SKIP
    if result == SKIP:
        return None
    failed = result in (FAIL, XFAIL)
    return failed == (expected == FAIL)


def verdict_of(
    entries: Sequence[Entry], model_kernel: str, cache: dict[tuple[str, str], tuple[str, str | None]]
) -> tuple[str, str | None, str]:
    """(model, invariant, note) over the entries: one verdict, or ``mixed``."""
    from cowlab.scenario.catalog import load_builtin

    verdicts = []
    for e in entries:
        key = (e.scenario, model_kernel)
        if key not in cache:
            cache[key] = model_verdict(load_builtin(e.scenario), model_kernel)
        verdicts.append(cache[key])
    kinds = {v for v, _ in verdicts}
    if len(kinds) == 1:
        v, inv = verdicts[0]
        return v, inv, (f"model: {inv}" if v == "error" else "")
    listed = ", ".join(f"{e.scenario} {v}" for e, (v, _) in zip(entries, verdicts, strict=True))
    return "mixed", None, f"the entries disagree: {listed}"


def rows_from_output(
    kernel: str,
    test: str,
    text: str,
    status: int | None,
    *,
    model_kernel: str,
    fs: dict[str, str] | None = None,
    cut_short: str = "",
    index: dict[tuple[str, str], tuple[Entry, ...]] | None = None,
    cache: dict[tuple[str, str], tuple[str, str | None]] | None = None,
) -> list[Row]:
    """One row per result line of a program, plus an error row when its output is not
    whole (``cut_short`` says why the run stopped, when it was stopped)."""
    out = parse_selftest(text)
    cache = {} if cache is None else cache
    rows = []
    for line in out.lines:
        m = match_line(test, line.name, fs, index)
        model, invariant, note = ("", None, "")
        if m.entries and model_kernel:
            model, invariant, note = verdict_of(m.entries, model_kernel, cache)
        elif m.entries:
            model, note = "error", "no model kernel to compare with"
        expected = m.expected or _expected(model)
        rows.append(
            Row(
                kernel,
                test,
                line.name,
                line.status,
                line.number,
                line.reason,
                tuple(e.scenario for e in m.entries),
                model,
                invariant,
                expected,
                compare(line.status, expected),
                "; ".join(x for x in (m.note, note) if x),
                m.fs,
            )
        )
    if out.skipped is not None and not out.lines and status in (0, 4):
        return [Row(kernel, test, "", SKIP, reason=f"the whole program skipped: {out.skipped}")]
    problems = list(out.problems)
    if status is None:
        problems.insert(0, cut_short or "the program did not finish")
    elif status not in (0, 1, 4):
        problems.insert(0, f"exit status {status}")
    elif status == 1 and not any(r.result == FAIL for r in rows):
        problems.append("exit status 1 without a failed line")
    if problems:
        where = f"; it stopped in: {out.unfinished}" if out.unfinished else ""
        rows.append(Row(kernel, test, "", ERROR, reason="; ".join(problems) + where))
    return rows


# --- running -------------------------------------------------------------------


def fs_name(hex_type: str) -> str:
    """``stat -f -c %t``'s hex type -> a name (``ef53`` -> ext4)."""
    try:
        value = int(hex_type, 16)
    except ValueError:
        return ""
    return FS_TYPES.get(value, f"0x{value:x}")


def guest_fs(output: str) -> dict[str, str]:
    m = _FS.search(output)
    return {"tmp": fs_name(m[1]), "cwd": fs_name(m[2])} if m else {}


def ext4_image(path: Path, size_mb: int = 16) -> Path | None:
    """An empty ext4 filesystem image made with the host's mke2fs (None without it)."""
    mke2fs = shutil.which("mke2fs") or ("/usr/sbin/mke2fs" if Path("/usr/sbin/mke2fs").exists() else None)
    if mke2fs is None:
        return None
    path.unlink(missing_ok=True)
    proc = subprocess.run(
        [mke2fs, "-q", "-F", "-t", "ext4", "-L", "cowlab", str(path), f"{size_mb}M"],
        capture_output=True,
        text=True,
        check=False,
    )
    return path if proc.returncode == 0 else None


#: /init lines of the selftest boot: ext4 on the second ram disk as the working
#: directory (gup_longterm's local tmpfile), /tmp a tmpfs; say which they are
GUEST_SETUP = (
    "if [ -f /lib/ext4.img ] && [ -b /dev/ram1 ]; then",
    "  dd if=/lib/ext4.img of=/dev/ram1 bs=1M 2>/dev/null && rm /lib/ext4.img"
    " && mkdir -p /mnt/ext4 && mount -t ext4 /dev/ram1 /mnt/ext4",
    "fi",
)
GUEST_WORKDIR = "/mnt/ext4"
GUEST_FS_LINE = f'echo "{FS_MARK}tmp=$(stat -f -c %t /tmp) cwd=$(stat -f -c %t .) path=$(pwd)"'


@dataclass
class KernelRun:
    """What one kernel gave: rows, and what was booted and built."""

    kernel: str
    rows: list[Row] = field(default_factory=list)
    booted: str = ""
    release: str = ""
    model_kernel: str = ""
    source: str = ""
    fs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""


def _error_rows(kernel: str, tests: Sequence[str], why: str, log: Path | None = None) -> list[Row]:
    return [Row(kernel, t, "", ERROR, reason=why, log=str(log) if log else None) for t in tests]


def _absent_rows(kernel: str, builds: dict[str, SelftestBuild]) -> list[Row]:
    rows = []
    for test, b in builds.items():
        if b.absent:
            rows.append(Row(kernel, test, "", SKIP, reason=b.problem))
        elif b.exe is None:
            rows.append(Row(kernel, test, "", ERROR, reason=b.problem, log=str(b.log) if b.log else None))
    return rows


def run_selftests(
    kernels: Sequence[str],
    tests: Sequence[str] = tuple(TESTS),
    *,
    cache_dir: Path | None = None,
    workdir: Path | None = None,
    timeout: int = SELFTEST_TIMEOUT_S,
    on_kernel: Callable[[KernelRun], None] | None = None,
) -> list[KernelRun]:
    """Build and run ``tests`` on each kernel (``5.10``, ``6.1``, ``6.12``, exact
    versions, ``host``) and compare every line with the catalog."""
    check_arguments(kernels)
    unknown = [t for t in tests if t not in TESTS]
    if unknown:
        raise ValueError(f"unknown selftest {unknown[0]!r}: one of {', '.join(TESTS)}")
    cache_dir = cache_dir or cache_root()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="cowlab-selftest-"))
    runs = []
    for kernel in kernels:
        run = _run_host(tests, cache_dir, workdir, timeout) if kernel == "host" else None
        if run is None:
            run = _run_kernel(kernel, tests, cache_dir, workdir, timeout)
        run.rows = [
            replace(
                r,
                booted=run.booted,
                release=run.release,
                model_kernel=run.model_kernel,
                source=run.source,
            )
            for r in run.rows
        ]
        if on_kernel:
            on_kernel(run)
        runs.append(run)
    return runs


def _run_kernel(kernel: str, tests: Sequence[str], cache_dir: Path, workdir: Path, timeout: int) -> KernelRun:
    run = KernelRun(kernel)
    try:
        files = ensure_kernel(kernel, cache_dir)
    except FetchError as e:
        say(f"{kernel}: {e}")
        run.rows = _error_rows(kernel, tests, fetch_error(e))
        return run
    run.booted, run.release, run.note = files.debian, files.release, files.note
    run.model_kernel = files.model_kernel
    try:
        source = ensure_source(files.version, files.debian, cache_dir)
    except (FetchError, SelftestError, OSError, subprocess.SubprocessError) as e:
        say(f"{kernel}: linux-source-{files.version} {files.debian}: {e}")
        why = f"linux-source-{files.version}={files.debian}: {fetch_error(e)}"
        run.rows = _error_rows(kernel, tests, why)
        return run
    run.source = source.describe()
    builds = build_selftests(source, list(tests), cache_dir)
    run.rows = _absent_rows(kernel, builds)
    programs = {t: b.exe for t, b in builds.items() if b.exe is not None}
    if not programs:
        return run
    kdir = workdir / f"selftest-{kernel}"
    kdir.mkdir(parents=True, exist_ok=True)
    image = ext4_image(kdir / "ext4.img")
    try:
        initrd = build_initramfs(
            programs,
            kdir / "initramfs.cpio.gz",
            brd=files.brd(),
            timeout_s=timeout,
            files={"/lib/ext4.img": image} if image else {},
            hugepages=HUGEPAGES,
            ram_disks=2,
            numa_scan=False,
            setup=(*GUEST_SETUP, f"cd {GUEST_WORKDIR} 2>/dev/null || cd /tmp", GUEST_FS_LINE),
            workdir=GUEST_WORKDIR,
        )
        say(f"{kernel}: booting Debian {files.debian} ({files.release}) with {', '.join(programs)}")
        vm = boot(files.vmlinuz, initrd, BOOT_S + len(programs) * (timeout + 5), workdir=kdir)
    except (InitramfsError, OSError, subprocess.SubprocessError) as e:
        run.rows += _error_rows(kernel, list(programs), f"{type(e).__name__}: {e}")
        return run
    say(f"{files.release}: {vm.status} after {vm.seconds:.1f} s")
    run.seconds = vm.seconds
    run.fs = guest_fs(vm.output)
    if vm.booted.release:
        run.release = vm.booted.release
    run.rows += rows_from_vm(vm, kernel, list(programs), run.model_kernel, run.fs, files)
    return run


def rows_from_vm(
    vm: VmResult,
    kernel: str,
    programs: list[str],
    model_kernel: str,
    fs: dict[str, str],
    files: KernelFiles | None = None,
) -> list[Row]:
    """A panic, a guest that is not the kernel asked for or no output: one error row per
    program; a timeout keeps the lines of programs that finished."""
    wrong = booted_as_expected(vm, files) if files is not None else None
    if vm.status not in (OK, TIMEOUT) or wrong:
        why = wrong or f"VM {vm.status}: no verdict from this boot"
        return _error_rows(kernel, programs, why, vm.console)
    rows: list[Row] = []
    cache: dict[tuple[str, str], tuple[str, str | None]] = {}
    for test in programs:
        out = vm.programs.get(test)
        if out is None:
            rows += _error_rows(kernel, [test], f"no output (VM {vm.status})", vm.console)
            continue
        cut = f"VM {vm.status}: the program did not finish" if out.status is None else ""
        got = rows_from_output(
            kernel, test, out.text, out.status, model_kernel=model_kernel, fs=fs, cut_short=cut, cache=cache
        )
        rows += [replace(r, log=str(vm.console)) if r.result == ERROR else r for r in got]
    return rows


def _run_host(tests: Sequence[str], cache_dir: Path, workdir: Path, timeout: int) -> KernelRun:
    """The selftests on this machine, built from the source of the newest Debian
    kernel the oracle boots (the host's own kernel is no Debian package)."""
    release = platform.release()
    model_kernel, note = host_model_kernel(release)
    run = KernelRun("host", release=release, model_kernel=model_kernel)
    branch = HOST_SOURCE_BRANCH
    try:
        files = ensure_kernel(branch, cache_dir)
        source = ensure_source(files.version, files.debian, cache_dir)
    except (FetchError, SelftestError, OSError, subprocess.SubprocessError) as e:
        run.rows = _error_rows("host", tests, f"linux-source-{branch}: {fetch_error(e)}")
        return run
    run.source = source.describe()
    ran = f"Debian has no source of this machine's {release}: the selftests of {source.describe()} ran"
    run.note = "; ".join(x for x in (note, ran) if x)
    builds = build_selftests(source, list(tests), cache_dir)
    run.rows = _absent_rows("host", builds)
    cwd = workdir / "host"
    cwd.mkdir(parents=True, exist_ok=True)
    run.fs = {"tmp": host_fs(Path("/tmp")), "cwd": host_fs(cwd)}
    cache: dict[tuple[str, str], tuple[str, str | None]] = {}
    for test, b in builds.items():
        if b.exe is None:
            continue
        say(f"host: running {test} of {source.describe()} in {cwd}")
        status: int | None
        try:
            proc = subprocess.run(
                [str(b.exe)], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
            )
            text, status, cut = proc.stdout, proc.returncode, ""
        except subprocess.TimeoutExpired as e:
            out = e.stdout or b""
            text = out.decode(errors="replace") if isinstance(out, bytes) else out
            status, cut = None, f"timeout after {timeout} s"
        (cwd / f"{test}.out").write_text(text)
        run.rows += rows_from_output(
            "host", test, text, status, model_kernel=model_kernel, fs=run.fs, cut_short=cut, cache=cache
        )
    return run


def host_fs(path: Path) -> str:
    proc = subprocess.run(["stat", "-f", "-c", "%t", str(path)], capture_output=True, text=True, check=False)
    return fs_name(proc.stdout.strip()) if proc.returncode == 0 else ""


def summary(run: KernelRun) -> dict[str, object]:
    """Counts of one kernel: lines run, results, agreements, disagreements, no entry."""
    lines = [r for r in run.rows if r.line]
    return {
        "kernel": run.kernel,
        "lines": len(lines),
        **{s.lower(): sum(r.result == s for r in lines) for s in (PASS, FAIL, SKIP, XFAIL, XPASS, ERROR)},
        "matched": sum(r.matched for r in lines),
        "agree": sum(r.agree is True for r in lines),
        "disagree": sum(r.agree is False for r in lines),
        "no_entry": sum(not r.matched for r in lines),
        "errors": sum(r.result == ERROR for r in run.rows),
    }


def to_json(runs: Sequence[KernelRun]) -> list[dict[str, object]]:
    return [
        {
            "kernel": run.kernel,
            "booted": run.booted,
            "release": run.release,
            "model_kernel": run.model_kernel,
            "source": run.source,
            "fs": run.fs,
            "seconds": round(run.seconds, 1),
            "note": run.note,
            "summary": summary(run),
            "rows": [r.to_json() for r in run.rows],
        }
        for run in runs
    ]
