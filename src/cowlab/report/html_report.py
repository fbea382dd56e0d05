"""`cowlab run --html FILE`: the trace as a sequence diagram in one self-contained HTML
page (no scripts, no external resources; readable printed), for teaching and for bug
reports: one lane per actor, a stopped thread drawn as the span it waits, broken
promises where they break, commits linked to their upstream pages, and beside each step
the state it leaves, what changed first."""

from __future__ import annotations

from typing import Any

import jinja2

from cowlab.engine import RunResult, StepRecord, run_scenario
from cowlab.engine.bisect import BisectResult
from cowlab.history import commit_url, kernel_at
from cowlab.invariants import PROMISES
from cowlab.model.events import Decision, Note
from cowlab.report.events import describe
from cowlab.report.run_report import action_text, collapse_passes, verdict
from cowlab.report.state import state_changes

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("cowlab.report", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def run_html(result: RunResult) -> str:
    """The page for a replay; pass one made with ``keep_state=True`` for the state column."""
    from cowlab import __version__

    first = result.first
    summary = (
        "every promise held"
        if first is None
        else (f"{first[1].invariant} broken at step {first[0]}: {PROMISES[first[1].invariant]}")
    )
    return _ENV.get_template("run.html.j2").render(
        name=result.scenario.name,
        kernel=result.kernel.name,
        description=" ".join(result.scenario.description.split()),
        verdict=verdict(result),
        summary=summary,
        lanes=_lanes(result),
        rows=_rows(result),
        version=__version__,
    )


def _lanes(result: RunResult) -> list[str]:
    """Threads in the order they act, then the kernel's background work and the device."""
    threads = [t.name for p in result.scenario.processes for t in p.threads]
    for record in result.steps:
        if record.step.actor not in threads:
            threads.append(record.step.actor)
    pseudo = [a for a in ("kswapd", "kernel", "device") if a in threads]
    return [t for t in threads if t not in pseudo] + pseudo


def _rows(result: RunResult) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    stopped: dict[str, str] = {}  # thread -> the stage it waits at
    previous: dict[str, dict[str, str]] = {}
    for record in result.steps:
        step = record.step
        described = [(e, describe(e, result.machine)) for e in record.events]
        shown = collapse_passes([t for _, t in described if t is not None])
        decisions = {t: e for e, t in described if type(e) is Decision}
        notes = {t for e, t in described if type(e) is Note}
        items = []
        for text in shown:
            event = decisions.get(text)
            if event is not None and event.cite and len(event.cite) == 12:
                text = text.removesuffix(f" ({event.cite})")
                url = commit_url(event.cite)
                items.append({"kind": "decision", "text": text, "commit": event.cite, "url": url})
            else:
                kind = "decision" if event is not None else "note" if text in notes else "event"
                items.append({"kind": kind, "text": text, "commit": ""})
        options = []
        if step.until:
            options.append(f"until {step.until}" + (f" #{step.nth}" if step.nth > 1 else ""))
        if step.choose:
            options.append(f"choose {step.choose}")
        stopped.pop(step.actor, None)
        row_stopped = dict(stopped)
        if record.stopped_at:
            stopped[step.actor] = record.stopped_at
        changes = []
        prior = previous  # the state before this step, should an identical one follow
        if record.state is not None:
            changes = _changes(previous, record.state)
            previous = record.state
        row = {
            "index": str(record.index),
            "actor": step.actor,
            "action": action_text(step.action),
            "options": options,
            "lines": items,
            "violations": record.violations,
            "stopped": row_stopped,
            "changes": changes,
            "state": record.state,
            "before": prior,
            "repeats": 1,
        }
        if rows and _same_step(rows[-1], row):
            _absorb(rows[-1], row, record.index)
        else:
            rows.append(row)
    return rows


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, str]]:
    """What changed from ``before`` to ``after``, each line with its kind for the page."""
    kinds = {"+": "add", "~": "change", "-": "remove"}
    return [{"kind": kinds[line[0]], "text": line} for line in state_changes(before, after)]


def _same_step(last: dict[str, Any], row: dict[str, Any]) -> bool:
    """Consecutive steps that read the same (nine ``choose trylock_fail`` passes) are
    drawn once, as the text trace prints them; a step that breaks a promise never is."""
    keys = ("actor", "action", "options", "lines", "stopped")
    return not last["violations"] and not row["violations"] and all(last[k] == row[k] for k in keys)


def _absorb(last: dict[str, Any], row: dict[str, Any], index: int) -> None:
    """Make ``last`` stand for itself and ``row``: its index a range, its changes from
    the state before its first step to the state ``row`` leaves."""
    first = last["index"].split("-")[0]
    last["index"] = f"{first}-{index}"
    last["repeats"] += 1
    if row["state"] is not None:
        last["changes"] = _changes(last["before"], row["state"])
        last["state"] = row["state"]


def bisect_html(result: BisectResult) -> str:
    """The first change of a bisection: the two traces side by side, without and with
    the commit, the first step whose decisions differ highlighted."""
    change = result.changes[0]
    short = change.commit.short
    with_it = run_scenario(result.scenario, kernel_at(short))
    without = run_scenario(result.scenario, kernel_at(short, (short,)))
    rows = []
    for before, after in zip(without.steps, with_it.steps, strict=False):
        rows.append(
            {
                "index": before.index,
                "head": f"{before.step.actor} {action_text(before.step.action)}",
                "before": _lines(before, without, after, with_it),
                "after": _lines(after, with_it, before, without),
            }
        )
    return _ENV.get_template("bisect.html.j2").render(
        name=result.scenario.name,
        direction=change.direction,
        commit=short,
        commit_url=commit_url(short),
        title=change.commit.title,
        release=change.commit.release,
        rules=", ".join(f"{rule} = {value}" for rule, value in change.rules) or "none",
        first_step=change.step,
        before=change.before,
        after=change.after,
        before_class="holds" if change.before == "holds" else "broken",
        after_class="holds" if change.after == "holds" else "broken",
        rows=rows,
    )


def _lines(
    record: StepRecord, result: RunResult, other: StepRecord, other_result: RunResult
) -> list[dict[str, str]]:
    """A step's lines, marking those the other trace's same step does not have."""
    mine = _shown(record, result)
    theirs = set(_shown(other, other_result))
    out = [{"kind": "differs" if text not in theirs else "", "text": text} for text in mine]
    out += [{"kind": "broken", "text": f"BROKEN {v.invariant}: {v.detail}"} for v in record.violations]
    return out


def _shown(record: StepRecord, result: RunResult) -> list[str]:
    """The lines a step prints (as the text trace shows them)."""
    return collapse_passes([t for t in (describe(e, result.machine) for e in record.events) if t])
