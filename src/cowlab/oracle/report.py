"""docs/oracle-report.md: the agreement table of model and real kernels, generated.

Every disagreement must be fixed in the model or explained here, in KNOWN, with the
reason; an unexplained one is printed as such so that nobody mistakes it for noise.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cowlab.oracle.runner import Cell

if TYPE_CHECKING:
    from cowlab.oracle.selftest import KernelRun, Row

#: (scenario, kernel) -> why model and kernel legitimately disagree
KNOWN: dict[tuple[str, str], str] = {
    ("gaudi-thp-fork", "5.10"): (
        "the model lets the first hinting fault from another node migrate (the two-fault "
        "cpupid filter of should_numa_migrate_memory() is not modeled: cowlab/kernel/mempolicy.py, "
        "docs/gaudi.md section 4); on 5.10.262 the kernel declined T1's one fault from node 1 "
        "(the program's vmstat lines: the scan protected the THP, numa_huge_pte_updates +2, but "
        "pgmigrate_fail +0: no migration tried, 4 runs of 4), so the PMD came back writable. "
        "With one more numa_scan and read before the fork the kernel tries, fails on the pin "
        "(pgmigrate_fail +512), maps the PMD read-only, and fork and write break pin_coherence "
        "as the model says: not ok on 5.10.262 (2 runs of 2), ok on 6.1.192 and 6.12.117, "
        "where the failed migration restores the PMD writable (c5b5a3dd2c1f)"
    ),
}


def debian_version(vmlinuz: Path) -> str:
    """The Debian package version in a kernel image's uncompressed version banner."""
    match = re.search(rb"SMP (?:PREEMPT_DYNAMIC )?Debian (\S+) \(", vmlinuz.read_bytes()[:65536])
    return match.group(1).decode() if match else "?"


def booted_versions(cells: Sequence[Cell]) -> dict[str, str]:
    """kernel -> what it booted and what it was compared with, from its cells:
    ``Debian 6.1.192-3 (6.1.0-57-cloud-amd64), model v6.1.192``, or for a kernel built
    here ``linux-source-5.10 5.10.262-1, stops build (5.10.262-cowlab-stops-...), model
    v5.10.262``."""
    out: dict[str, str] = {}
    for c in cells:
        if c.kernel in out or not (c.release or c.model_kernel):
            continue
        # a Debian package version, or what a build here says it is (linux-source-5.10 ...)
        debian = "Debian " if c.booted[:1].isdigit() else ""
        what = f"{debian}{c.booted} ({c.release})" if c.booted else (c.release or "not booted")
        out[c.kernel] = f"{what}, model {c.model_kernel or 'none'}"
    return out


_STEP = re.compile(r"^steps\[\d+\] \S+ \S+: ")


def not_exported(refused: dict[str, str]) -> list[str]:
    """The scenarios export_c refuses, grouped by the first reason each is refused for
    (its first problem without the step: ``option thp=True is not supported``)."""
    groups: dict[str, list[str]] = {}
    for name, why in refused.items():
        first = why.strip().splitlines()[0] if why.strip() else "refused"
        groups.setdefault(_STEP.sub("", first), []).append(name)
    return [
        f"- {reason} ({len(names)}): {', '.join(names)}"
        for reason, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def markdown(
    cells: Sequence[Cell], command: str, refused: dict[str, str], versions: dict[str, str] | None = None
) -> str:
    """The report; ``versions`` (kernel -> text) overrides what the cells say was booted."""
    kernels = list(dict.fromkeys(c.kernel for c in cells))
    versions = {**booted_versions(cells), **(versions or {})}
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    lines = [
        "# Oracle report: the model against real kernels",
        "",
        f"Generated {today} by `{command}`.",
        "",
        "Kernels: " + ", ".join(f"{k} = {versions[k]}" if k in versions else k for k in kernels) + ".  "
        "Each scenario is exported as a C program (`cowlab export-c`), run in one QEMU boot "
        "per kernel (TCG, two NUMA nodes; `host` is this machine's own kernel), and its TAP "
        "verdict compared with the model's.  `skip` means the kernel lacks what the program "
        "needs (swap, free huge pages, the cowlab_pin module on the host); `error` means no verdict "
        "(panic, timeout, no output).",
        "",
    ]
    lines += verdict_table(cells)
    lines += ["", "## Disagreements", ""]
    lines += disagreements(cells)
    lines += ["", "## Not exported", ""]
    lines += not_exported(refused) or ["None."]
    lines += ["", totals(cells), ""]
    return "\n".join(lines)


def grid(cells: Sequence[Cell], kernels: Sequence[str], text: Callable[[Cell], str]) -> list[str]:
    """A markdown table: one row per scenario of ``cells``, one column per kernel."""
    lines = ["| scenario | " + " | ".join(kernels) + " |", "|---|" + "---|" * len(kernels)]
    by = {(c.scenario, c.kernel): c for c in cells}
    for name in dict.fromkeys(c.scenario for c in cells):
        row = [text(by[(name, k)]) if (name, k) in by else "" for k in kernels]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def verdict_table(cells: Sequence[Cell]) -> list[str]:
    """One row per scenario, one column per kernel: ``model / real: agree``."""

    def text(c: Cell) -> str:
        model = "holds" if c.model == "holds" else f"broken ({c.invariant})"
        mark = {True: "agree", False: "**DISAGREE**", None: c.real}[c.agree]
        return f"{model} / {c.real}: {mark}"

    return grid(cells, list(dict.fromkeys(c.kernel for c in cells)), text)


def disagreements(cells: Sequence[Cell]) -> list[str]:
    """Each disagreement with its explanation (KNOWN), or UNEXPLAINED."""
    disagree = [c for c in cells if c.agree is False]
    return [
        f"- {c.scenario} on {c.kernel}: model {c.model}, real {c.real}: "
        + KNOWN.get((c.scenario, c.kernel), "UNEXPLAINED")
        for c in disagree
    ] or ["None."]


def totals(cells: Sequence[Cell]) -> str:
    return (
        f"Totals: {sum(c.agree is True for c in cells)} agree, {sum(c.agree is False for c in cells)} "
        f"disagree, {sum(c.real == 'skip' for c in cells)} skip, "
        f"{sum(c.real == 'error' for c in cells)} error, of {len(cells)} cells."
    )


INSTRUMENTED_HEADING = "## Instrumented kernels: stops"


def instrumented_markdown(cells: Sequence[Cell], command: str) -> str:
    """The section of programs exported for kernels built with cowlab's stops: a thread
    held at the model's stage while the other steps run, then released."""
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    versions = booted_versions(cells)
    kernels = list(dict.fromkeys(c.kernel for c in cells))
    lines = [
        INSTRUMENTED_HEADING,
        "",
        f"Generated {today} by `{command}`.",
        "",
        "Kernels built here from Debian's source with the stops patch (`cowlab oracle "
        "build-kernel`, `cowlab oracle stages`): "
        + ", ".join(f"{k} = {versions[k]}" if k in versions else k for k in kernels)
        + ".  Each program (`cowlab export-c --instrumented`) holds the thread of an "
        "`until:` step at the kernel's stop of that name, runs the steps in between, and "
        "releases it at `resume`; `numa_scan` and `lru_drain` are the patch's triggers, and "
        "NUMA balancing's own scans are held off.  The model is taken at the kernel's "
        "version with the build's reverts.",
        "",
        *verdict_table(cells),
        "",
        "Disagreements:",
        "",
        *disagreements(cells),
        "",
        totals(cells),
        "",
        *stops_table(cells),
    ]
    return "\n".join(lines) + "\n"


def stops_table(cells: Sequence[Cell]) -> list[str]:
    """Where each held thread stopped, model / kernel, per scenario and kernel: the
    interleaving behind the verdict (stop_outcomes)."""
    held = [c for c in cells if c.model_stops or c.real_stops]
    if not held:
        return []

    def pairs(c: Cell) -> list[tuple[str, str]]:
        n = max(len(c.model_stops), len(c.real_stops))
        return [
            (
                c.model_stops[i] if i < len(c.model_stops) else "-",
                c.real_stops[i] if i < len(c.real_stops) else "-",
            )
            for i in range(n)
        ]

    def text(c: Cell) -> str:
        return "; ".join(
            model if model == real else f"**{model} / {real.rpartition(': ')[2]}**"
            for model, real in pairs(c)
        )

    lines = [
        "Where each held thread stopped, model / kernel (`held` at the stage, `ran on` "
        "without reaching it, `waited elsewhere`: neither within 3 s, on a lock a held "
        "thread holds):",
        "",
        *grid(held, list(dict.fromkeys(c.kernel for c in cells)), text),
    ]
    same = sum(model == real for c in held for model, real in pairs(c))
    differ = sum(model != real for c in held for model, real in pairs(c))
    lines += ["", f"Stops: {same} alike, {differ} different (in bold: model / kernel)."]
    seen = {
        (c.scenario, m.partition(": ")[0], m.rpartition(": ")[2], r.rpartition(": ")[2])
        for c in held
        for m, r in zip(c.model_stops, c.real_stops, strict=False)
        if m != r
    }
    kinds = sorted({(model, real) for _, _, model, real in seen})
    if kinds:
        lines += ["", "Why they differ:", ""]
    for model, real in kinds:
        places = sorted({f"{name} ({stop})" for name, stop, m, r in seen if (m, r) == (model, real)})
        why = STOP_DIFFERENCES.get((model, real), "UNEXPLAINED")
        lines.append(f"- model {model}, kernel {real}: {why} ({'; '.join(places)})")
    return lines


#: (model, kernel) outcome of a stop -> why they legitimately differ
STOP_DIFFERENCES: dict[tuple[str, str], str] = {
    ("held", "ran on"): (
        "from 6c287605fd56 (v5.19) try_to_migrate() leaves a pinned exclusive page mapped; "
        "the model enters migrate.unmapped all the same and fails the migration there, the "
        "patch holds only a page that was unmapped (docs/oracle.md, 'Where the stop and the "
        "model's stage differ'); what runs in the model's window sees a present, pinned PTE "
        "either way"
    ),
    ("held", "waited elsewhere"): (
        "the model has no mmap_lock: while fork is held it lets GUP fall back to the slow path "
        "and stop at follow_page, the kernel's slow path waits for the mmap_lock fork holds "
        "for writing, and reaches follow_page (and its hold) once fork is released"
    ),
}


# --- the kernel's selftests ------------------------------------------------------

SELFTEST_HEADING = "## Selftests"
#: (kernel, selftest line) -> why model and selftest legitimately disagree
SELFTEST_KNOWN: dict[tuple[str, str], str] = {}


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with the level-2 section ``heading`` (up to the next ``## `` heading)
    replaced by ``section``, or ``section`` appended when there is none."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    body = section.rstrip("\n").splitlines()
    if start is None:
        return "\n".join([*lines, "", *body]).strip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join([*lines[:start], *body, *(["", *lines[end:]] if end < len(lines) else [])]) + "\n"


def section_of(text: str, heading: str) -> str:
    """The level-2 section ``heading`` of ``text`` ("" when there is none)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        return ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).rstrip() + "\n"


def _cell(row: Row) -> str:
    if row.expected == "SKIP" and not row.entries:
        return f"{row.result} / SKIP expected: {'agree' if row.agree else '**DISAGREE**'}"
    if not row.model:
        return row.result
    model = row.model if row.model != "broken" else f"broken ({row.invariant})"
    mark = {True: "agree", False: "**DISAGREE**", None: row.result.lower()}[row.agree]
    return f"{row.result} / {model}: {mark}"


def selftest_markdown(runs: Sequence[KernelRun], command: str) -> str:
    """The "Selftests" section of docs/oracle-report.md."""
    from cowlab.oracle.selftest import ERROR, SKIP, summary

    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    kernels = [r.kernel for r in runs]
    out = [
        SELFTEST_HEADING,
        "",
        f"Generated {today} by `{command}`.",
        "",
        "The kernel's own cow.c and gup_longterm.c, built from the Debian source package of each "
        "booted kernel (`linux-source-*` of the same Debian version; the host, whose kernel is no "
        "Debian package, runs those of 6.12), run as root in the oracle's VM (swap on a ram disk, "
        "32 huge pages of 2 MiB, /tmp on tmpfs, the working directory on ext4), each result line "
        "matched with the catalog entry of the same name and compared with the model at the "
        "version booted: holds means PASS, broken FAIL (an XFAIL counts as a failure).  Debian's "
        "kernels have no CONFIG_GUP_TEST, so every line that pins through gup_test SKIPs "
        '("gup_test not available"); a SKIP is never a verdict.',
        "",
        "| kernel | booted / model | selftest source | /tmp, working dir | lines | PASS | FAIL | SKIP "
        "| XFAIL | with an entry | agree | disagree | no entry | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        s = summary(run)
        booted = f"Debian {run.booted} ({run.release})" if run.booted else (run.release or "-")
        fs = f"{run.fs.get('tmp', '?')}, {run.fs.get('cwd', '?')}" if run.fs else "-"
        out.append(
            f"| {run.kernel} | {booted} / {run.model_kernel or '-'} | {run.source or '-'} | {fs} "
            f"| {s['lines']} | {s['pass']} | {s['fail']} | {s['skip']} | {s['xfail']} | {s['matched']} "
            f"| {s['agree']} | {s['disagree']} | {s['no_entry']} | {s['errors']} |"
        )
    notes = [f"- {run.kernel}: {run.note}" for run in runs if run.note]
    whole = [
        f"- {r.kernel}, {r.test}: {r.result}: {r.reason}" + (f" (log: `{r.log}`)" if r.log else "")
        for run in runs
        for r in run.rows
        if not r.line
    ]
    if notes or whole:
        out += ["", *notes, *whole]
    matched: dict[str, dict[str, Row]] = {}
    for run in runs:
        for r in run.rows:
            if r.line and r.matched:
                matched.setdefault(r.line, {})[run.kernel] = r
    shown = [k for k in kernels if any(k in cells for cells in matched.values())]
    out += ["", "### Lines with a catalog entry", ""]
    if matched:
        out += [
            "| selftest line | catalog entry | " + " | ".join(shown) + " |",
            "|---|---|" + "---|" * len(shown),
        ]
        for line, cells in matched.items():
            first = next(iter(cells.values()))
            entries = ", ".join(first.entries) or "-"
            row = [_cell(cells[k]) if k in cells else "" for k in shown]
            out.append(f"| {line.replace('|', '/')} | {entries} | " + " | ".join(row) + " |")
    else:
        out.append("None.")
    out += ["", "### Disagreements", ""]
    disagree = [r for run in runs for r in run.rows if r.agree is False]
    for r in disagree:
        why = SELFTEST_KNOWN.get((r.kernel, r.line), "UNEXPLAINED")
        out.append(
            f"- {r.kernel}, {r.test} `{r.line}`: selftest {r.result} ({r.reason}), model {r.model} "
            f"({', '.join(r.entries)}): {why}"
        )
    if not disagree:
        out.append("None.")
    out += [
        "",
        "### Skips and errors by reason",
        "",
        "| kernel | test | result | reason | lines |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        counts: dict[tuple[str, str, str], int] = {}
        for r in run.rows:
            if r.line and r.result in (SKIP, ERROR):
                key = (r.test, r.result, r.reason)
                counts[key] = counts.get(key, 0) + 1
        for (test, result, reason), n in sorted(counts.items()):
            out.append(f"| {run.kernel} | {test} | {result} | {reason} | {n} |")
    out += ["", "### Lines with no catalog entry", ""]
    out += _unmatched(runs) or ["None."]
    return "\n".join(out) + "\n"


_SIZE = re.compile(r" \((\d+) kB\)$")


def _unmatched(runs: Sequence[KernelRun]) -> list[str]:
    """The lines without an entry: the test cases the catalog has no entry of at all,
    then the others counted by backing (sizes gathered: ``PTE-mapped THP (16, 32 kB)``)."""
    lines = [(run.kernel, r) for run in runs for r in run.rows if r.line]
    case_of = {id(r): (r.test, r.line.split(" ... with ", 1)[0]) for _, r in lines}
    covered = {case_of[id(r)] for _, r in lines if r.matched}
    missing = list(dict.fromkeys(case_of[id(r)] for _, r in lines if case_of[id(r)] not in covered))
    kernels = list(dict.fromkeys(k for k, r in lines if not r.matched))
    out: list[str] = []
    if missing:
        counts = {k: sum(case_of[id(r)] in missing for kk, r in lines if kk == k) for k in kernels}
        out += [
            "Test cases with no entry on any backing ("
            + ", ".join(f"{k}: {n} lines" for k, n in counts.items())
            + "): "
            + "; ".join(f"{test} `{case}`" for test, case in missing)
            + ".",
            "",
        ]
    groups: dict[tuple[str, str], dict[str, int]] = {}
    sizes: dict[tuple[str, str], set[int]] = {}
    for kernel, r in lines:
        if r.matched or case_of[id(r)] in missing:
            continue
        backing = r.line.split(" ... with ", 1)[1] if " ... with " in r.line else "(no backing)"
        m = _SIZE.search(backing)
        key = (r.test, _SIZE.sub("", backing))
        if m:
            sizes.setdefault(key, set()).add(int(m[1]))
        groups.setdefault(key, {}).setdefault(kernel, 0)
        groups[key][kernel] += 1
    if groups:
        out += [
            "The other cases, by the backing the catalog has no entry for:",
            "",
            "| test | backing | " + " | ".join(kernels) + " |",
            "|---|---|" + "---|" * len(kernels),
        ]
        for (test, backing), counts_by_kernel in groups.items():
            if (test, backing) in sizes:
                backing += f" ({', '.join(map(str, sorted(sizes[(test, backing)])))} kB)"
            cells = [str(counts_by_kernel.get(k, "")) for k in kernels]
            out.append(f"| {test} | {backing.replace('|', '/')} | " + " | ".join(cells) + " |")
    return out
