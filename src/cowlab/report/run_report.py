"""`cowlab run` output: a step-by-step text trace, or one JSON object."""

from __future__ import annotations

import re
from dataclasses import asdict, fields, is_dataclass

from rich.console import Console
from rich.markup import escape

from cowlab.engine import RunResult, StepRecord
from cowlab.invariants import MODEL_SANITY, PROMISES
from cowlab.report.events import describe, event_json
from cowlab.report.state import state_changes
from cowlab.scenario.actions import ACTION_NAMES, Action


def action_text(action: Action) -> str:
    name = ACTION_NAMES[type(action)]
    parts = []
    for f in fields(action) if is_dataclass(action) else ():
        value = getattr(action, f.name)
        if value is None or value == f.default:
            continue
        if isinstance(value, tuple):  # GUP flags read as the kernel writes them
            value = "|".join(map(str, value))
        if value is True and parts:  # a switch reads as its name: thp, shared, fast
            parts.append(f.name)
            continue
        parts.append(f"{value}" if not parts else f"{f.name}={value}")
    return " ".join([name, *map(str, parts)])


_PASS = re.compile(r"\(pass \d+/\d+\)")


def collapse_passes(lines: list[str]) -> list[str]:
    """Migration retries print the same lines pass after pass: keep the first pass and
    the last, and say how many identical passes lie between."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        blocks[-1].append(line)
        if _PASS.search(line):
            blocks.append([])
    out: list[str] = []
    i = 0
    while i < len(blocks):
        j = i
        key = [_PASS.sub("", x) for x in blocks[i]]
        while j + 1 < len(blocks) - 1 and [_PASS.sub("", x) for x in blocks[j + 1]] == key:
            j += 1
        out.extend(blocks[i])
        if j - i > 1:
            out.append(f"... {j - i - 1} more identical migration passes ...")
        if j > i:
            out.extend(blocks[j])
        i = j + 1
    return out


def verdict(result: RunResult) -> str:
    if any(v.invariant == MODEL_SANITY for _, v in result.violations):
        return "model-bug"
    return "holds" if result.holds else "broken"


#: what the trace's notation means, printed under its title
LEGEND = (
    "#N names a value: each store (by a CPU or a device) writes a new one, and a "
    "load shows which one it sees.  (HASH) is the commit behind a decision."
)


def print_run(result: RunResult, console: Console) -> None:
    sc = result.scenario
    console.print(
        f"[bold]{escape(sc.name)}[/] on kernel [bold]{escape(result.kernel.name)}[/] "
        f"({len(result.kernel.commits)} modeled commits applied)"
    )
    console.print(f"[dim]{escape(LEGEND)}[/]")
    records = result.steps
    texts = [_step_text(record, result) for record in records]
    i = 0
    while i < len(records):
        record = records[i]
        shown = texts[i]
        j = i  # consecutive steps that read the same are printed once
        while j + 1 < len(records) and not records[j].violations and texts[j + 1] == shown:
            j += 1
        head, lines = shown
        index = f"{record.index:>3}" if j == i else f"{record.index}-{records[j].index}"
        if j > i:
            head += f"  ({j - i + 1} identical steps)"
        console.print(escape(f"{index:>3}  {head}"), style="bold" if records[j].violations else None)
        for text in lines:
            console.print(f"       {escape(text)}", highlight=False)
        if records[j].state is not None:
            before = records[i - 1].state if i > 0 else None
            for change in state_changes(before or {}, records[j].state or {}):
                console.print(f"         [dim]{escape(change)}[/]", highlight=False)
        for violation in records[j].violations:
            console.print(
                f"       [red]BROKEN {violation.invariant}[/]: {escape(violation.detail)}", highlight=False
            )
        i = j + 1
    first = result.first
    if first is None:
        console.print("[green]all promises held[/]")
        return
    index, violation = first
    label = "MODEL BUG" if verdict(result) == "model-bug" else "promise broken"
    console.print(
        f"[red]{label}[/]: {violation.invariant} at step {index} ({escape(PROMISES[violation.invariant])})",
        highlight=False,
    )


def _step_text(record: StepRecord, result: RunResult) -> tuple[str, list[str]]:
    """A step's header (without its index) and the lines its events print."""
    step = record.step
    head = f"{step.actor:<8} {action_text(step.action)}"
    if step.until:
        head += f"  [until {step.until}" + (f" #{step.nth}" if step.nth > 1 else "") + "]"
    if step.choose:
        head += f"  [choose {step.choose}]"
    lines = collapse_passes(
        [t for t in (describe(e, result.machine) for e in record.events) if t is not None]
    )
    return head, lines


def run_json(result: RunResult) -> dict[str, object]:
    return {
        "scenario": result.scenario.name,
        "kernel": result.kernel.name,
        "commits": [c.short for c in result.kernel.commits],
        "reverted": [c.short for c in result.kernel.reverted],
        "verdict": verdict(result),
        "steps": [
            {
                "index": r.index,
                "actor": r.step.actor,
                "action": ACTION_NAMES[type(r.step.action)],
                "args": asdict(r.step.action),
                "until": r.step.until,
                "stopped_at": r.stopped_at,
                "events": [event_json(e) for e in r.events],
                "violations": [{"invariant": v.invariant, "detail": v.detail} for v in r.violations],
                "state": r.state,
            }
            for r in result.steps
        ],
        "violations": [
            {"invariant": v.invariant, "step": i, "detail": v.detail} for i, v in result.violations
        ],
    }
