"""The ``cowlab`` command.

Exit statuses are in ``cowlab.exit_codes``; ``main`` turns every exception into one
of them with a one-line message (the traceback only under ``--debug``), so that a
crash never reads as a finding.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cowlab import exit_codes
from cowlab._entry import raised_by_interrupt
from cowlab._help import hide_type_tags
from cowlab.engine import run_scenario
from cowlab.exit_codes import EXIT_HELP
from cowlab.history import (
    RELEASES,
    RULE_SUMMARIES,
    STABLE_BRANCHES,
    STABLE_ONLY,
    TIMELINE,
    Commit,
    UnknownKernelError,
    kernel_at,
)
from cowlab.kernel.context import ModelBugError
from cowlab.kernel.frames import STAGE_DOCS
from cowlab.report import print_run, run_json, verdict
from cowlab.scenario import ScenarioError
from cowlab.scenario.catalog import builtin_config_names, builtin_names, load_builtin, load_named

EXIT_HELD, EXIT_BROKEN, EXIT_BAD_INPUT = exit_codes.HELD, exit_codes.BROKEN, exit_codes.BAD_INPUT
EXIT_LIMIT, EXIT_MODEL_BUG = exit_codes.LIMIT, exit_codes.MODEL_BUG

hide_type_tags()
app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="A laboratory for Linux anonymous-memory semantics.",
    epilog=EXIT_HELP,
)
# emoji=False: a message that quotes "line100.yaml:100:" must not print an emoji
console = Console(highlight=False, soft_wrap=True, emoji=False)
if not console.is_terminal and "COLUMNS" not in os.environ:
    console.width = 200  # files and pipes get whole table rows, unless COLUMNS says
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


#: the kernel a command runs on, and the modeled commits it reverts
KernelOption = Annotated[
    str,
    typer.Option("--kernel", "-k", metavar="KERNEL", help="release (v5.16), stable (v5.10.262) or commit"),
]
RevertOption = Annotated[
    list[str] | None, typer.Option(metavar="COMMIT", help="revert a modeled commit (repeatable)")
]


def _epilog(example: str) -> str:
    """A command's help ends with an example and the exit statuses."""
    return f"Example: {example}\n\n{EXIT_HELP}"


class Strategy(enum.StrEnum):
    """How `cowlab check` explores (cowlab.check.runner.STRATEGIES)."""

    bfs = "bfs"
    dfs = "dfs"
    random = "random"


class Engine(enum.StrEnum):
    """Where a parallel `cowlab check` runs its workers (cowlab.check.runner.ENGINES)."""

    processes = "processes"
    ray = "ray"


class Expect(enum.StrEnum):
    """What `cowlab matrix` checks each cell against."""

    declared = "declared"
    holds = "holds"
    broken = "broken"


def _fail(message: str) -> NoReturn:
    err.print(f"cowlab: error: {message}", markup=False)
    raise typer.Exit(EXIT_BAD_INPUT)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a search as SIGINT does: a partial report and a final checkpoint.
    A second SIGTERM stops at once (the last checkpoint written stays good: checkpoints
    are replaced atomically)."""

    def interrupt(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_output(flag: str, path: str | None) -> None:
    """An output path whose directory does not exist is bad input, said before any work
    (not a traceback after a long search, with its result lost)."""
    if path is not None and not Path(path).resolve().parent.is_dir():
        _fail(f"{flag}: the directory of {path!r} does not exist")


def _check_positive(flag: str, value: float | None, unit: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        _fail(f"{flag}: {value} is not a positive number of {unit}")


@app.command(epilog=_epilog("cowlab run gaudi --kernel v5.16"))
def run(
    scenario: Annotated[
        str | None, typer.Argument(metavar="SCENARIO", help="scenario file or built-in name")
    ] = None,
    kernel: KernelOption = "v5.16",
    revert: RevertOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    html: Annotated[
        str | None, typer.Option("--html", metavar="FILE", help="also write the trace as HTML")
    ] = None,
    list_stages: Annotated[
        bool, typer.Option("--list-stages", help="list the stages `until` can name")
    ] = False,
    state: Annotated[
        bool,
        typer.Option("--state", help="print what each step changed: PTEs, page counts and flags, pins, swap"),
    ] = False,
) -> None:
    """Replay a scenario step by step on one kernel and check the promises."""
    if list_stages:
        for name in sorted(STAGE_DOCS):
            console.print(f"{name:<28} {escape(STAGE_DOCS[name])}")
        return
    if scenario is None:
        _fail("give a scenario file or built-in name (see `cowlab catalog`)")
    _check_output("--html", html)
    try:
        k = kernel_at(kernel, revert or ())
        result = run_scenario(load_named(scenario), k, keep_state=state or as_json or bool(html))
    except (ScenarioError, UnknownKernelError) as exc:
        _fail(str(exc))
    if html:
        from cowlab.report.html_report import run_html

        Path(html).write_text(run_html(result))
    if as_json:
        sys.stdout.write(json.dumps(run_json(result), indent=2) + "\n")
    else:
        print_run(result, console)
    outcome = verdict(result)
    raise typer.Exit({"holds": EXIT_HELD, "broken": EXIT_BROKEN}.get(outcome, EXIT_MODEL_BUG))


@app.command(epilog=_epilog("cowlab check gaudi-open --kernel v5.17 --emit-scenario ce.yaml"))
def check(
    config: Annotated[
        str, typer.Argument(metavar="CONFIG", help="check configuration file or built-in name")
    ],
    kernel: KernelOption = "v5.16",
    revert: RevertOption = None,
    strategy: Annotated[
        Strategy,
        typer.Option(
            help="bfs: breadth-first, the first violation is a shortest trace; dfs: depth-first; "
            "random: seeded random walks (--seed; with --workers or --engine ray, a swarm of them)"
        ),
    ] = Strategy.bfs,
    max_depth: Annotated[
        int, typer.Option(min=1, metavar="N", help="stop expanding states this deep")
    ] = 10_000,
    max_states: Annotated[
        int, typer.Option(min=1, metavar="N", help="stop after this many distinct states")
    ] = 50_000_000,
    time_limit: Annotated[float | None, typer.Option(metavar="SECONDS", help="stop after this long")] = None,
    memory_limit: Annotated[
        int | None, typer.Option(metavar="MB", help="stop at this much resident memory (workers included)")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="parallel breadth-first search over N workers (default: 1; with --engine ray, "
            "one per CPU of the cluster)",
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            help="processes: workers on this machine; ray: Ray actors, on this machine or "
            "on the cluster at --address (pip install 'cowlab\\[ray]')"
        ),
    ] = Engine.processes,
    address: Annotated[
        str | None,
        typer.Option(metavar="ADDR", help="--engine ray: the Ray cluster to join (e.g. auto, or HOST:6379)"),
    ] = None,
    seed: Annotated[int, typer.Option(metavar="SEED", help="random-walk seed")] = 0,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            metavar="PATH", help="write checkpoints to PATH (a file; a directory for a parallel search)"
        ),
    ] = None,
    checkpoint_every: Annotated[
        float, typer.Option(metavar="SECONDS", help="seconds between checkpoints")
    ] = 30.0,
    resume: Annotated[
        str | None, typer.Option(metavar="PATH", help="resume from the checkpoint at PATH")
    ] = None,
    emit_scenario: Annotated[
        str | None, typer.Option(metavar="FILE", help="write the counterexample as a scenario here")
    ] = None,
    html: Annotated[
        str | None,
        typer.Option("--html", metavar="FILE", help="write the counterexample's trace as HTML here"),
    ] = None,
    no_reduce: Annotated[bool, typer.Option("--no-reduce", help="no partial-order reduction")] = False,
    fingerprint_bits: Annotated[
        int, typer.Option(metavar="64|128", help="visited-set fingerprint width in bits")
    ] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Explore every interleaving of a configuration; report the shortest violation."""
    from cowlab.check.checkpoint import CheckpointError
    from cowlab.check.compiled import interpreted_note
    from cowlab.check.progress import ProgressReporter
    from cowlab.check.ray_engine import RayUnavailableError
    from cowlab.check.result import Limits
    from cowlab.check.runner import run_check
    from cowlab.report.check_report import check_json, print_check
    from cowlab.scenario.catalog import load_named_config
    from cowlab.scenario.dump import dump_scenario

    parallel = engine is Engine.ray or (workers or 1) > 1
    if parallel and strategy is Strategy.dfs:
        _fail("--workers/--engine ray: the parallel search is breadth-first (or a swarm of random walks)")
    if address and engine is not Engine.ray:
        _fail("--address: only with --engine ray")
    if parallel and checkpoint and resume and Path(checkpoint).resolve() != Path(resume).resolve():
        _fail("--checkpoint/--resume: a parallel search keeps its checkpoints in one directory")
    if engine is Engine.ray:
        from cowlab.check.ray_engine import INSTALL_HINT, RayUnavailableError, check_address, ray_installed

        if not ray_installed():
            _fail(INSTALL_HINT)
        if address:
            try:
                check_address(address)
            except RayUnavailableError as exc:
                _fail(str(exc))
    if fingerprint_bits not in (64, 128):
        _fail(f"--fingerprint-bits: {fingerprint_bits} is not 64 or 128")
    _check_positive("--time-limit", time_limit, "seconds")
    _check_positive("--memory-limit", memory_limit, "MB")
    _check_positive("--checkpoint-every", checkpoint_every, "seconds")
    _check_output("--checkpoint", checkpoint)
    _check_output("--emit-scenario", emit_scenario)
    _check_output("--html", html)
    reporter = ProgressReporter()
    try:
        k = kernel_at(kernel, revert or ())
        cfg = load_named_config(config)
        limits = Limits(
            max_depth=max_depth, max_states=max_states, time_limit=time_limit, memory_limit_mb=memory_limit
        )
        note = interpreted_note()  # once the input is known good: an error stays one line
        if note:
            err.print(escape(note))
        with _sigterm_interrupts():
            run_ = run_check(
                cfg,
                k,
                strategy=strategy.value,
                limits=limits,
                reduce=not no_reduce,
                seed=seed,
                workers=workers,
                engine=engine.value,
                address=address,
                checkpoint=checkpoint,
                checkpoint_every=checkpoint_every,
                resume=resume,
                progress=reporter,
                fingerprint_bits=fingerprint_bits,
            )
    except (ScenarioError, UnknownKernelError, CheckpointError, RayUnavailableError) as exc:
        reporter.close()
        _fail(str(exc))
    reporter.close()
    if emit_scenario and run_.counterexample is not None:
        Path(emit_scenario).write_text(dump_scenario(run_.counterexample))
    if html and run_.replay is not None:
        from cowlab.report.html_report import run_html

        Path(html).write_text(run_html(run_.replay))
    if as_json:
        sys.stdout.write(json.dumps(check_json(run_), indent=2) + "\n")
    else:
        print_check(run_, console)
    outcome = run_.result.outcome
    if outcome == "violation":
        model_bug = any(v.invariant == "model_sanity" for v in run_.result.violations)
        raise typer.Exit(EXIT_MODEL_BUG if model_bug or not run_.reproduced else EXIT_BROKEN)
    raise typer.Exit(EXIT_HELD if outcome == "complete" else EXIT_LIMIT)


@app.command(epilog=_epilog("cowlab bisect gaudi --good v4.8 --bad v6.18"))
def bisect(
    scenario: Annotated[str, typer.Argument(metavar="SCENARIO", help="scenario file or built-in name")],
    good: Annotated[str, typer.Option(metavar="KERNEL", help="one end")] = "v4.8",
    bad: Annotated[str, typer.Option(metavar="KERNEL", help="the other end")] = "v6.18",
    html: Annotated[
        str | None,
        typer.Option("--html", metavar="FILE", help="write the first change's two traces side by side"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The first modeled commit at which a scenario's verdict changes (either way)."""
    from cowlab.engine.bisect import bisect as run_bisect
    from cowlab.report.history_report import bisect_json, print_bisect

    _check_output("--html", html)
    try:
        result = run_bisect(load_named(scenario), good, bad)
    except (ScenarioError, UnknownKernelError) as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(bisect_json(result), indent=2) + "\n")
    else:
        print_bisect(result, console)
    if not result.changes:  # no commit to name: a distinct status, as for a limit
        raise typer.Exit(EXIT_LIMIT)
    if html:
        from cowlab.report.html_report import bisect_html

        Path(html).write_text(bisect_html(result))


@app.command(epilog=_epilog("cowlab matrix 'cow-*' --kernels v5.10.262,v6.1.192 --expect declared"))
def matrix(
    names: Annotated[list[str], typer.Argument(metavar="NAME...", help="built-in names, globs or files")],
    kernels_: Annotated[
        str | None, typer.Option("--kernels", metavar="K1,K2,...", help="comma-separated kernels")
    ] = None,
    expect: Annotated[
        Expect,
        typer.Option(
            help="what each cell should be: as the scenario declares (introduced_by, fixed_by), "
            "or holds or broken everywhere"
        ),
    ] = Expect.declared,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A table of scenarios x kernels with each verdict.

    Exits 1 when a cell is not as expected (--expect), listing those cells, so that a
    CI job can gate on it: `cowlab matrix 'cow-*' --kernels v6.12.117 --expect holds`."""
    from cowlab.engine.matrix import DEFAULT_KERNELS
    from cowlab.engine.matrix import matrix as run_matrix
    from cowlab.report.history_report import matrix_json, print_matrix

    chosen = _expand_names(names)
    kernel_list = tuple(k.strip() for k in kernels_.split(",")) if kernels_ else DEFAULT_KERNELS
    try:
        mx = run_matrix([load_named(n) for n in chosen], kernel_list)
    except (ScenarioError, UnknownKernelError) as exc:
        _fail(str(exc))
    differences = mx.differences(expect.value)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    **matrix_json(mx),
                    "expect": expect.value,
                    "differences": [
                        {"scenario": n, "kernel": k, "expected": e, "verdict": v}
                        for n, k, e, v in differences
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    else:
        print_matrix(mx, console)
        for name, kernel, expected, verdict in differences:
            console.print(
                f"not as expected: {name} on {kernel}: {verdict} "
                f"({'declared' if expect is Expect.declared else 'expected'}: {expected})",
                markup=False,
            )
    if differences:
        raise typer.Exit(EXIT_BROKEN)


@app.command("export-c", epilog=_epilog("cowlab export-c gaudi -o gaudi.c"))
def export_c_command(
    scenario: Annotated[str, typer.Argument(metavar="SCENARIO", help="scenario file or built-in name")],
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE", help="the C file to write")],
    instrumented: Annotated[
        bool,
        typer.Option(
            "--instrumented",
            help="for a kernel built with cowlab's stops: until: holds the thread in the kernel "
            "at that stage, resume releases it (cowlab oracle stages)",
        ),
    ] = False,
    kernel: Annotated[
        str | None,
        typer.Option(
            "--kernel",
            "-k",
            metavar="KERNEL",
            help="with --instrumented: the kernel the program is for (v5.10.262); a held call's "
            "effects come at its resume only where the model holds the thread on that kernel",
        ),
    ] = None,
) -> None:
    """Write a scenario as a self-contained C program (kselftest TAP output)."""
    from cowlab.oracle import ExportError, approximations, export_c

    _check_output("--output", output)
    try:
        sc = load_named(scenario)
        reached = None
        if kernel is not None:
            from cowlab.engine import run_scenario
            from cowlab.oracle.stop_outcomes import reached_steps

            reached = reached_steps(run_scenario(sc, kernel_at(kernel)))
        text = export_c(sc, instrumented=instrumented, reached=reached)
    except (ScenarioError, UnknownKernelError) as exc:
        _fail(str(exc))
    except ExportError as exc:
        _fail(f"{scenario}: cannot export: " + "; ".join(exc.problems))
    Path(output).write_text(text)
    for note in approximations(sc, instrumented=instrumented, reached=reached):
        err.print(f"cowlab: approximate: {escape(note)}")
    console.print(f"wrote {escape(output)}: build with gcc -O2 -static {escape(output)} -luring -lpthread")


oracle_app = typer.Typer(no_args_is_help=True, help="Run scenarios on real Linux kernels.")
app.add_typer(oracle_app, name="oracle")


@oracle_app.command("run", epilog=_epilog("cowlab oracle run iouring-swap --kernels 5.10,6.1"))
def oracle_run(
    names: Annotated[list[str], typer.Argument(metavar="NAME...", help="built-in names, globs or files")],
    kernels_: Annotated[
        str,
        typer.Option(
            "--kernels",
            metavar="K1,K2,...",
            help="comma-separated: 5.10,6.1,6.12,host, or kernels built here (built:5.10-stops,...)",
        ),
    ] = "5.10,6.1,6.12",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    timeout: Annotated[int, typer.Option(metavar="SECONDS", help="seconds per program inside the VM")] = 30,
    instrumented: Annotated[
        bool,
        typer.Option(
            "--instrumented",
            help="export for kernels with cowlab's stops (until: holds a thread there); "
            "default kernels: every stops build; the report gets its own section",
        ),
    ] = False,
    report: Annotated[
        str | None, typer.Option(metavar="FILE", help="also write the markdown report here")
    ] = None,
    pins: Annotated[
        str,
        typer.Option(
            metavar="LEVER",
            help="module: every pin through the cowlab_pin module; uring: R/W long-term ones by io_uring",
        ),
    ] = "module",
) -> None:
    """Export, boot Debian's kernels under QEMU (two NUMA nodes), run, compare with the model
    at exactly the version booted (5.10, 6.1, 6.12 are the versions the model knows as
    Debian's; give 6.1.176 for another).

    Exit status: 0 every verdict agrees, 1 a disagreement, 2 bad input, 3 errors only
    (a VM that panicked, timed out or printed nothing, a module that did not load, or a
    version the model does not know gives an error, never a verdict)."""
    from dataclasses import asdict

    from cowlab.oracle import ensure_tools, run_on_kernels
    from cowlab.oracle.runner import check_arguments

    _check_output("--report", report)
    chosen = _expand_names(names)
    if instrumented and kernels_ == "5.10,6.1,6.12":
        from cowlab.oracle.race import STOPS_KERNELS

        kernels_ = ",".join(STOPS_KERNELS)
    kernel_list = [k.strip() for k in kernels_.split(",") if k.strip()]
    try:
        scenarios = [load_named(n) for n in chosen]
        check_arguments(kernel_list, pins)
        if any(k != "host" for k in kernel_list):
            ensure_tools()
        refused: dict[str, str] = {}
        cells = run_on_kernels(
            scenarios,
            kernel_list,
            program_timeout=timeout,
            on_refusal=lambda name, why: refused.__setitem__(name, why),
            pins=pins,
            instrumented=instrumented,
        )
    except (ScenarioError, UnknownKernelError, ValueError) as exc:
        _fail(str(exc))
    for name, why in refused.items():
        err.print(f"cowlab: {name}: not exported: {escape(why)}")
    if report and instrumented:
        from cowlab.oracle.report import INSTRUMENTED_HEADING, instrumented_markdown, replace_section

        command = "cowlab oracle run " + " ".join(repr(n) if "*" in n else n for n in names)
        command += f" --instrumented --kernels {kernels_} --report {report}"
        old = Path(report).read_text() if Path(report).is_file() else ""
        section = instrumented_markdown(cells, command)
        Path(report).write_text(replace_section(old, INSTRUMENTED_HEADING, section))
    elif report:
        from cowlab.oracle.report import markdown

        command = "cowlab oracle run " + " ".join(repr(n) if "*" in n else n for n in names)
        command += f" --kernels {kernels_} --report {report}"
        command += f" --pins {pins}" if pins != "module" else ""
        text = markdown(cells, command, refused)
        if Path(report).is_file():  # the selftests' section, written by `oracle selftest`, stays
            from cowlab.oracle.race import RACE_HEADINGS
            from cowlab.oracle.report import (
                INSTRUMENTED_HEADING,
                SELFTEST_HEADING,
                replace_section,
                section_of,
            )

            for heading in (SELFTEST_HEADING, *RACE_HEADINGS, INSTRUMENTED_HEADING):
                kept = section_of(Path(report).read_text(), heading)
                text = replace_section(text, heading, kept) if kept else text
        Path(report).write_text(text)
    if as_json:
        sys.stdout.write(json.dumps([asdict(c) for c in cells], indent=2) + "\n")
    else:
        from cowlab.oracle.report import booted_versions

        for kernel, what in booted_versions(cells).items():
            console.print(f"{escape(kernel)}: booted {escape(what)}")
        table = Table("scenario", "kernel", "booted", "model", "real", "agree", "note")
        for cell in cells:
            model = cell.model + (f" ({cell.invariant})" if cell.invariant else "")
            agree = {True: "[green]yes[/]", False: "[red]NO[/]", None: "-"}[cell.agree]
            note = cell.note + (f" log: {cell.log}" if cell.log else "")
            booted = f"{cell.booted or cell.release or '-'} / {cell.model_kernel or '-'}"
            table.add_row(cell.scenario, cell.kernel, escape(booted), model, cell.real, agree, escape(note))
        console.print(table)
    if any(c.agree is False for c in cells):
        raise typer.Exit(EXIT_BROKEN)
    # nothing compared: a side without a verdict (a VM, a module, or a model kernel missing)
    if cells and all(c.agree is None for c in cells) and any("error" in (c.real, c.model) for c in cells):
        raise typer.Exit(EXIT_LIMIT)


@oracle_app.command(
    "selftest", epilog=_epilog("cowlab oracle selftest --kernels 6.12,host --report docs/oracle-report.md")
)
def oracle_selftest(
    kernels_: Annotated[
        str, typer.Option("--kernels", metavar="K1,K2,...", help="comma-separated: 5.10,6.1,6.12,host")
    ] = "5.10,6.1,6.12",
    tests_: Annotated[
        str, typer.Option("--tests", metavar="T1,T2", help="comma-separated: cow,gup_longterm")
    ] = "cow,gup_longterm",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    report: Annotated[
        str | None,
        typer.Option(
            metavar="FILE", help="write (or replace) the '## Selftests' section of this markdown file"
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="print every line, not only those with a catalog entry")
    ] = False,
    timeout: Annotated[int, typer.Option(metavar="SECONDS", help="seconds per selftest")] = 900,
) -> None:
    """Build the kernel's own cow.c and gup_longterm.c from the Debian source of each
    booted kernel, run them (in the VM; directly for host), and compare each result line
    with the catalog entry of the same name at exactly the version booted.

    Exit status: 0 every compared line agrees, 1 a disagreement, 2 bad input, 3 errors only
    (a source Debian does not serve, a test that does not build, a VM that panicked: error
    rows, never verdicts)."""
    from cowlab.oracle import ensure_tools
    from cowlab.oracle.runner import check_arguments
    from cowlab.oracle.selftest import ERROR, run_selftests, summary, to_json
    from cowlab.oracle.selftest_build import TESTS

    _check_output("--report", report)
    kernel_list = [k.strip() for k in kernels_.split(",") if k.strip()]
    test_list = [t.strip() for t in tests_.split(",") if t.strip()]
    try:
        check_arguments(kernel_list)
        unknown = [t for t in test_list if t not in TESTS]
        if unknown or not test_list:
            raise ValueError(f"unknown selftest {(unknown or [''])[0]!r}: one of {', '.join(TESTS)}")
        if any(k != "host" for k in kernel_list):
            ensure_tools()
        runs = run_selftests(kernel_list, test_list, timeout=timeout)
    except ValueError as exc:
        _fail(str(exc))
    if report:
        from cowlab.oracle.report import SELFTEST_HEADING, replace_section, selftest_markdown

        command = f"cowlab oracle selftest --kernels {kernels_}"
        command += f" --tests {tests_}" if tests_ != "cow,gup_longterm" else ""
        command += f" --report {report}"
        path = Path(report)
        old = path.read_text() if path.is_file() else ""
        path.write_text(replace_section(old, SELFTEST_HEADING, selftest_markdown(runs, command)))
    rows = [r for run in runs for r in run.rows]
    if as_json:
        sys.stdout.write(json.dumps(to_json(runs), indent=2) + "\n")
    else:
        table = Table("kernel", "test", "#", "line", "result", "expected", "agree", "catalog entry", "note")
        for r in rows:
            if not (show_all or r.matched or not r.line or r.agree is False):
                continue
            expected = r.expected + (f" ({r.model})" if r.model else "")
            agree = {True: "[green]yes[/]", False: "[red]NO[/]", None: "-"}[r.agree]
            note = "; ".join(x for x in (r.reason, r.note, f"fs {r.fs}" if r.fs else "") if x)
            note += f" log: {r.log}" if r.log else ""
            table.add_row(
                r.kernel,
                r.test,
                str(r.number or ""),
                escape(r.line or "(whole program)"),
                r.result,
                expected or "-",
                agree,
                escape(", ".join(r.entries) or ("no catalog entry" if r.line else "-")),
                escape(note),
            )
        console.print(table)
        for run in runs:
            s = summary(run)
            booted = f"Debian {run.booted} ({run.release})" if run.booted else run.release
            counts = (
                f"{s['lines']} lines, {s['pass']} PASS, {s['fail']} FAIL, {s['skip']} SKIP, "
                f"{s['xfail']} XFAIL; {s['matched']} with a catalog entry: {s['agree']} agree, "
                f"{s['disagree']} disagree; {s['no_entry']} with none; {s['errors']} errors"
            )
            whole = "; ".join(f"{r.test} {r.result}: {r.reason}" for r in run.rows if not r.line)
            console.print(
                f"{escape(run.kernel)}: {escape(booted or 'not booted')}, model {run.model_kernel or '-'}, "
                f"source {escape(run.source or '-')}: {counts}"
                + (f"; {escape(whole)}" if whole else "")
                + (f" ({escape(run.note)})" if run.note else "")
            )
    if any(r.agree is False for r in rows):
        raise typer.Exit(EXIT_BROKEN)
    if rows and all(r.agree is None for r in rows) and any(r.result == ERROR for r in rows):
        raise typer.Exit(EXIT_LIMIT)


@oracle_app.command("build-kernel", epilog=_epilog("cowlab oracle build-kernel --variant 6.1-stops"))
def oracle_build_kernel(
    variant: Annotated[
        str,
        typer.Option(
            metavar="VARIANT",
            help="stock (5.10, the control), revert (5.10, 80d47f5de5e3 reverted), 5.10-stops, "
            "5.10-stops-revert, 6.1-stops, 6.12-stops (the test-only stops), or all",
        ),
    ] = "all",
    jobs: Annotated[int, typer.Option(metavar="N", help="make -jN")] = 2,
) -> None:
    """Build a kernel for the oracle's VM from Debian's linux-source-5.10 (5.10.262-1),
    -6.1 (6.1.192-3) or -6.12 (6.12.117-1~deb12u1), the versions the oracle boots (opt-in:
    7 to 15 minutes on 2 cores each; cached by source version, configuration and patches).
    The stops builds carry the holds at the model's stages (`cowlab oracle stages`).
    `cowlab oracle race ... --kernels built:stock,built:revert` boots them.

    Exit status: 0 built (or cached), 2 bad input, 5 a step failed (its log named)."""
    from cowlab.oracle import kbuild
    from cowlab.oracle.fetch import FetchError

    chosen = list(kbuild.BUILD_NAMES) if variant == "all" else [variant]
    try:
        for v in chosen:
            kbuild.check_variant(v)
        if jobs < 1:
            raise ValueError(f"--jobs {jobs}: want at least 1")
    except ValueError as exc:
        _fail(str(exc))
    for v in chosen:
        try:
            built = kbuild.build_kernel(v, jobs=jobs)
        except (kbuild.KbuildError, FetchError, OSError) as exc:
            log = getattr(exc, "log", None)
            err.print(
                f"cowlab: error: build-kernel {v}: {exc}" + (f" (log: {log})" if log else ""), markup=False
            )
            raise typer.Exit(exit_codes.INTERNAL) from None
        how = "cached" if built.cached else f"built in {built.seconds:.0f} s"
        console.print(
            f"{built.name}: {escape(built.describe())} ({escape(built.release)}), {how}: "
            f"{escape(str(built.files.vmlinuz))}; "
            f"model {escape(' '.join([built.model_kernel, *(f'--revert {r}' for r in built.reverts)]))}"
        )


@oracle_app.command("stages", epilog=_epilog("cowlab oracle stages --kernel built:6.1-stops"))
def oracle_stages(
    kernel: Annotated[
        str,
        typer.Option(
            metavar="K",
            help="a built kernel (built:5.10-stops, built:6.12-stops, ...) or a branch (5.10, 6.1, 6.12)",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The stops of a kernel's branch: each model stage, where its stops patch holds the
    task (file, function, where) or why it has no stop, and whether the kernel is built.

    Exit status: 0, 2 bad input."""
    from cowlab.oracle import kbuild, stops
    from cowlab.oracle.fetch import cache_root

    names = [n for n in kbuild.BUILT_NAMES if "stops" in n]
    if kernel in stops.BRANCHES:
        branch = kernel
        name = f"built:{kbuild.build_name(branch, 'stops')}"
    elif kernel in names:
        name = kernel
        branch = kbuild.split_name(kernel.removeprefix("built:"))[0]
    else:
        _fail(f"unknown kernel {kernel!r}: one of {', '.join(stops.BRANCHES)}, {', '.join(names)}")
    built = kbuild.resolve_built(name, cache_root())
    rows = stops.table(branch)
    if as_json:
        data = {
            "kernel": name,
            "branch": branch,
            "built": built is not None,
            "release": built.release if built else None,
            "stages": [{"stage": s, "supported": ok, "where": w} for s, ok, w in rows],
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    table = Table("stage", "stop", "injection point, or why not")
    for stage, ok, where in rows:
        table.add_row(stage, "[green]yes[/]" if ok else "no", escape(where))
    console.print(table)
    how = (
        f"built ({escape(built.release)}: {escape(str(built.files.vmlinuz))})"
        if built
        else f"not built: cowlab oracle build-kernel --variant {name.removeprefix('built:')}"
    )
    console.print(f"{name} (linux-source-{branch} {kbuild.SOURCES[branch]}): {how}")


@oracle_app.command(
    "race", epilog=_epilog("cowlab oracle race gaudi-open --kernels 5.10,built:revert --seconds 60")
)
def oracle_race(
    workload: Annotated[
        str, typer.Argument(metavar="SCENARIO_OR_CONFIG", help="gaudi, gaudi-pin-after-scan or gaudi-open")
    ],
    kernels_: Annotated[
        str,
        typer.Option(
            "--kernels",
            metavar="K1,K2,...",
            help="comma-separated: 5.10,6.1,6.12,built:stock,built:revert,built:5.10-stops,...",
        ),
    ] = "5.10,6.1,6.12",
    seconds: Annotated[int, typer.Option(metavar="S", help="seconds each variant hunts in the VM")] = 60,
    variant: Annotated[
        list[str] | None,
        typer.Option(metavar="VARIANT", help="pin-before-scan or pin-after-scan (repeatable)"),
    ] = None,
    pages: Annotated[int, typer.Option(metavar="N", help="pages pinned per iteration")] = 32,
    touch_ms: Annotated[int, typer.Option(metavar="MS", help="how long the other thread touches them")] = 150,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh-process/--one-process",
            help="each iteration in a new process (its NUMA scan period not grown yet), or all in one",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    report: Annotated[
        str | None, typer.Option(metavar="FILE", help="write (or replace) the '## Race hunts' section here")
    ] = None,
) -> None:
    """Hunt the Gaudi race in the VM: the workload pins pages as the driver does (module,
    FOLL_FORCE|FOLL_WRITE|FOLL_LONGTERM, GUP-fast) before or after NUMA balancing's scan,
    another thread touches them, and each divergence of pin and mapping (PFN, contents)
    is a hit.  Compared with the model on the variant's scenario at the kernel booted.

    Exit status: 0 no disagreement (hits where the model breaks, none where it holds, or
    none where it breaks: a null result), 1 a hit where the model says the promise
    holds, 2 bad input, 3 no kernel gave a result (errors and skips only)."""
    from cowlab.oracle import ensure_tools
    from cowlab.oracle.race import RaceError, check_kernels, race_markdown, run_race, variants_of

    _check_output("--report", report)
    kernel_list = [k.strip() for k in kernels_.split(",") if k.strip()]
    try:
        chosen = variants_of(workload, variant or ())
        check_kernels(kernel_list)
        if seconds < 1 or not 1 <= pages <= 256 or touch_ms < 1:
            raise RaceError("--seconds and --touch-ms want at least 1, --pages 1..256")
        ensure_tools()
        cells = run_race(
            workload,
            kernel_list,
            seconds=seconds,
            variants=chosen,
            pages=pages,
            touch_ms=touch_ms,
            fresh=fresh,
        )
    except RaceError as exc:
        _fail(str(exc))
    if report:
        from cowlab.oracle.race import RACE_HEADING
        from cowlab.oracle.report import replace_section

        command = f"cowlab oracle race {workload} --kernels {kernels_} --seconds {seconds}"
        command += "".join(f" --variant {v}" for v in variant or ())
        command += f" --pages {pages}" if pages != 32 else ""
        command += f" --touch-ms {touch_ms}" if touch_ms != 150 else ""
        command += "" if fresh else " --one-process"
        path = Path(report)
        old = path.read_text() if path.is_file() else ""
        path.write_text(replace_section(old, RACE_HEADING, race_markdown(cells, command)))
    if as_json:
        sys.stdout.write(json.dumps([c.to_json() for c in cells], indent=2) + "\n")
    else:
        table = Table("kernel", "booted", "variant", "model", "iterations", "hits", "rate", "outcome", "note")
        for c in cells:
            model = c.model + (f" ({c.invariant})" if c.invariant else "") + f" at {c.model_kernel or '-'}"
            rate = f"{c.rate:.4f}" if c.rate is not None else "-"
            note = c.note or (f"first hit: {c.first_hit}" if c.first_hit else "")
            note += f" log: {c.log}" if c.log else ""
            table.add_row(
                c.kernel,
                escape(f"{c.booted or '-'} ({c.release or '-'})"),
                c.variant,
                escape(model),
                str(c.iterations) if c.status == "ran" else "-",
                f"{c.hits} ({c.hit_pages} pages)" if c.status == "ran" else "-",
                rate,
                c.outcome(),
                escape(note),
            )
        console.print(table)
    if any(c.agree is False for c in cells):
        raise typer.Exit(EXIT_BROKEN)
    if cells and all(c.status != "ran" for c in cells):
        raise typer.Exit(EXIT_LIMIT)


def _expand_names(names: list[str]) -> list[str]:
    """Built-in names and globs over them; anything else is taken as a file."""
    import fnmatch

    chosen: list[str] = []
    for name in names:
        hits = [n for n in builtin_names() if fnmatch.fnmatchcase(n, name)]
        if not hits and not any(ch in name for ch in "*?["):
            hits = [name]
        if not hits:
            _fail(f"no built-in scenario matches {name!r} (see `cowlab catalog`)")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _commit_json(c: Commit) -> dict[str, object]:
    return {
        "hash": c.short,
        "title": c.title,
        "release": c.release,
        "source": c.source,
        "confidence": c.confidence,
        "sets": dict(c.sets),
    }


@app.command(epilog=_epilog("cowlab kernels --json"))
def kernels(
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the modeled releases and commits, and the rules each commit switches."""
    if as_json:
        data = {
            "releases": list(RELEASES),
            "commits": [_commit_json(c) for c in TIMELINE],
            "stable_only": [_commit_json(c) for c in STABLE_ONLY],
            "stable": {
                branch: [
                    {
                        "commit": b.commit,
                        "first": f"{branch[1:]}.{b.first}",
                        "last": None if b.last is None else f"{branch[1:]}.{b.last}",
                        "source": b.source,
                    }
                    for b in backports
                ]
                for branch, backports in STABLE_BRANCHES.items()
            },
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    console.print(
        f"releases: {RELEASES[0]} .. {RELEASES[-1]} (a release applies every modeled commit up to its tag; "
        f"the newest modeled commit is of {TIMELINE[-1].release}: later changes to the modeled paths, "
        "listed in docs/research/timeline-v6.18.md, are not modeled yet)"
    )
    table = Table("commit", "release", "title", "rules switched")
    for c in TIMELINE:
        rules = ", ".join(f"{name}={'on' if on else 'off'}" for name, on in c.sets)
        table.add_row(c.short, c.release, escape(c.title), rules)
    console.print(table)
    console.print("stable branches (vX.Y.N = vX.Y plus the backports first released by N):")
    for branch, backports in STABLE_BRANCHES.items():
        carried = (
            ", ".join(
                f"{b.commit} in {branch[1:]}.{b.first}"
                + ("" if b.last is None else f"..{branch[1:]}.{b.last}")
                for b in backports
            )
            or "none"
        )
        console.print(f"  {branch}.N: {carried}")
    for c in STABLE_ONLY:
        rules = ", ".join(f"{name}={'on' if on else 'off'}" for name, on in c.sets)
        console.print(f"  stable-only {c.short} ({c.release}): {escape(c.title)}; {rules}")
    console.print("rules:")
    for name, summary in RULE_SUMMARIES.items():
        console.print(f"  {name:<28} {escape(summary)}")


@app.command(epilog=_epilog("cowlab catalog --json"))
def catalog(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """List the built-in scenarios and check configurations."""
    from cowlab.report.catalog_report import catalog_json, print_catalog

    scenarios = [load_builtin(name) for name in builtin_names()]
    if as_json:
        sys.stdout.write(json.dumps(catalog_json(scenarios, builtin_config_names()), indent=2) + "\n")
    else:
        print_catalog(scenarios, builtin_config_names(), console)


@app.command(epilog=_epilog("cowlab show gaudi"))
def show(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="built-in scenario or configuration, or a file")
    ],
) -> None:
    """One scenario or check configuration whole.

    Its description, references, declared commits, steps (or programs) as YAML, and the
    promises checked after every step."""
    from cowlab.report.catalog_report import print_show
    from cowlab.scenario.catalog import load_named_config

    try:
        if name in builtin_config_names():
            print_show(load_named_config(name).scenario, console, kind="check configuration")
        else:
            print_show(load_named(name), console)
    except ScenarioError as exc:
        _fail(str(exc))


#: set by --debug (or COWLAB_DEBUG=1): show the traceback of an internal error
_debug = [bool(os.environ.get("COWLAB_DEBUG"))]


def _print_version(on: bool) -> None:
    if on:
        from cowlab import __version__

        console.print(f"cowlab {__version__}")
        raise typer.Exit(EXIT_HELD)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an internal error")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="print the version and exit", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    if debug:
        _debug[0] = True


#: the command-line framework's own error class (typer vendors click; take it from the
#: public BadParameter rather than from a private module)
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> NoReturn:
    """The ``cowlab`` entry point: every outcome leaves with its own exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, prog_name="cowlab", standalone_mode=False)
    except _USAGE_ERROR as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `cowlab`: the help
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exit_codes.BAD_INPUT)
        err.print(f"cowlab: error: {exc.format_message()}", markup=False)  # type: ignore[attr-defined]
        sys.exit(exit_codes.BAD_INPUT)
    except (KeyboardInterrupt, typer.Abort):
        err.print("cowlab: interrupted", markup=False)
        sys.exit(exit_codes.INTERRUPTED)
    except ModelBugError as exc:
        report = _save_bug_report(args, exc)
        err.print(
            f"cowlab: model bug: {exc} (a bug in cowlab, not a finding; report saved to {report})",
            markup=False,
        )
        sys.exit(exit_codes.MODEL_BUG)
    except Exception as exc:  # a crash is never a finding: its own status, one line
        if raised_by_interrupt(exc):  # an interrupt wrapped by a lazy import
            err.print("cowlab: interrupted", markup=False)
            sys.exit(exit_codes.INTERRUPTED)
        if _debug[0]:
            traceback.print_exc()
        err.print(
            f"cowlab: internal error: {type(exc).__name__}: {exc} (a bug in cowlab; "
            "--debug shows the traceback)",
            markup=False,
        )
        sys.exit(exit_codes.INTERNAL)
    if code == exit_codes.INTERRUPTED:  # typer turns a Ctrl-C inside a command into 130
        err.print("cowlab: interrupted", markup=False)
        sys.exit(exit_codes.INTERRUPTED)
    sys.exit(code if isinstance(code, int) else exit_codes.HELD)


def _save_bug_report(args: list[str], exc: BaseException) -> Path:
    """What a bug report needs: the command, the version, the traceback and the text of
    every input file the command named (a built-in name is in the catalog)."""
    from cowlab import __version__
    from cowlab.oracle.fetch import cache_root

    directory = cache_root() / "bug-reports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / time.strftime("model-bug-%Y%m%d-%H%M%S.txt", time.gmtime())
    parts = [
        f"cowlab {__version__}",
        "command: cowlab " + " ".join(args),
        "",
        "".join(traceback.format_exception(exc)),
    ]
    for arg in args:
        candidate = Path(arg)
        if candidate.is_file() and candidate.stat().st_size < 1 << 20:
            parts += [f"--- {arg}", candidate.read_text(errors="replace")]
    path.write_text("\n".join(parts))
    return path


if __name__ == "__main__":
    main()
