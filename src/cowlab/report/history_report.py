"""`cowlab bisect` and `cowlab matrix` output."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cowlab.engine.bisect import BisectResult
from cowlab.engine.matrix import Matrix
from cowlab.invariants import (
    CALL_RESULT,
    FILE_ISOLATION,
    FILE_PIN_WRITEBACK,
    FORK_ISOLATION,
    NO_LOST_WRITE,
    PIN_COHERENCE,
    PROGRESS,
    RO_PIN_COHERENCE,
)

#: the words tools/testing/selftests/mm/cow.c prints for the promise each case checks
COW_C_WORDS: dict[str, str] = {
    FORK_ISOLATION: "No leak from parent into child",
    PIN_COHERENCE: "Longterm R/W pin is reliable",
    RO_PIN_COHERENCE: "Longterm R/O pin is reliable",
    NO_LOST_WRITE: "No lost write",
}

_SHORT = {
    PIN_COHERENCE: "pin",
    RO_PIN_COHERENCE: "ro-pin",
    FORK_ISOLATION: "leak",
    NO_LOST_WRITE: "lost-write",
    FILE_ISOLATION: "file",
    FILE_PIN_WRITEBACK: "file-pin",
    CALL_RESULT: "call",
    PROGRESS: "hang",
    "model_sanity": "MODEL-BUG",
}


def cell(verdict: str) -> str:
    """``ok``, or the first promise broken (the JSON lists them all)."""
    if verdict == "holds":
        return "ok"
    first = verdict.removeprefix("broken: ").split(", ")[0]
    return _SHORT.get(first, first)


def print_matrix(mx: Matrix, console: Console) -> None:
    table = Table("scenario", *mx.kernels)
    for sc, verdicts in mx.rows:
        table.add_row(
            sc.name,
            *(f"[green]{cell(v)}[/]" if v == "holds" else f"[red]{escape(cell(v))}[/]" for v in verdicts),
        )
    console.print(table)
    console.print(
        "ok: every promise held; pin: pin coherence, ro-pin: R/O pin coherence, "
        "leak: fork isolation, lost-write: no lost write, file: file isolation, "
        "file-pin: file pin vs writeback, call: a call's declared outcome, hang: progress"
    )


def matrix_json(mx: Matrix) -> dict[str, object]:
    return {
        "kernels": list(mx.kernels),
        "scenarios": [
            {
                "name": sc.name,
                "verdicts": {
                    k: {"verdict": v, "cow_c": _cow_c(v)} for k, v in zip(mx.kernels, verdicts, strict=True)
                },
            }
            for sc, verdicts in mx.rows
        ],
    }


def _cow_c(verdict: str) -> str:
    """cow.c's words: ``ok`` / ``not ok`` followed by its description of the promise."""
    if verdict == "holds":
        return "ok"
    first = verdict.removeprefix("broken: ").split(", ")[0]
    return f"not ok: {COW_C_WORDS.get(first, first)}"


def print_bisect(result: BisectResult, console: Console) -> None:
    console.print(
        f"[bold]{escape(result.scenario.name)}[/]: {result.older.name} "
        f"{escape(result.older_verdict)}; {result.newer.name} "
        f"{escape(result.newer_verdict)}"
    )
    if not result.changes:
        console.print("the verdict does not change between them")
        return
    for i, change in enumerate(result.changes):
        c = change.commit
        label = "first" if i == 0 else "then"
        console.print(
            f'{label} change: [bold]{c.short}[/] "{escape(c.title)}" ({c.release}): '
            f"{change.direction} ({escape(change.before)} -> {escape(change.after)})"
        )
        rules = ", ".join(f"{r}={'on' if v else 'off'}" for r, v in change.rules) or "none"
        console.print(f"  rules switched: {rules}")
        if change.step is not None:
            console.print(f"  traces first differ at step {change.step}:")
            for line in change.decisions_before[:2]:
                console.print(f"    before: {escape(line)}")
            for line in change.decisions_after[:2]:
                console.print(f"    after:  {escape(line)}")


def bisect_json(result: BisectResult) -> dict[str, object]:
    def change(ch) -> dict[str, object]:
        return {
            "commit": ch.commit.short,
            "title": ch.commit.title,
            "release": ch.commit.release,
            "direction": ch.direction,
            "before": ch.before,
            "after": ch.after,
            "rules": {r: v for r, v in ch.rules},
            "step": ch.step,
            "decisions_before": ch.decisions_before,
            "decisions_after": ch.decisions_after,
        }

    return {
        "scenario": result.scenario.name,
        "older": result.older.name,
        "newer": result.newer.name,
        "older_verdict": result.older_verdict,
        "newer_verdict": result.newer_verdict,
        "first": change(result.first) if result.first else None,
        "changes": [change(c) for c in result.changes],
    }
