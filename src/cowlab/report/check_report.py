"""`cowlab check` output: the verdict, the shortest trace printed as `cowlab run`
prints a scenario, and the search statistics."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from cowlab.check.fingerprints import omission_probability, tlc_estimate
from cowlab.check.runner import CheckRun
from cowlab.report.run_report import print_run, run_json


def stats_json(run: CheckRun) -> dict[str, object]:
    s = run.result.stats
    seconds = s.seconds
    return {
        "states": s.transitions,
        "transitions": s.transitions,
        "distinct": s.distinct,
        "max_depth": s.max_depth,
        "seconds": round(seconds, 3),
        "distinct_per_second": round(s.distinct / seconds, 1) if seconds else None,
        "transitions_per_second": round(s.transitions / seconds, 1) if seconds else None,
        "peak_memory_mb": round(run.peak_mb, 1),
        "reduced_transitions": run.reduced,
        "workers": run.workers,
        "engine": run.engine,
        "exchanged_bytes": run.result.exchanged_bytes,
        "swarm": run.result.coverage,
        "fingerprints": fingerprint_json(run),
    }


def fingerprint_json(run: CheckRun) -> dict[str, object] | None:
    """The visited set's fingerprint width and the chance that a distinct state was
    wrongly taken as visited (see ``cowlab.check.fingerprints``)."""
    bits = run.fingerprint_bits
    if bits is None:
        return None
    s = run.result.stats
    return {
        "bits": bits,
        "omission_probability": omission_probability(s.distinct, bits),
        "tlc_optimistic": tlc_estimate(s.distinct, s.transitions, bits),
    }


def print_check(run: CheckRun, console: Console) -> None:
    result = run.result
    console.print(
        f"[bold]{escape(run.config.name)}[/] on kernel [bold]{escape(run.kernel.name)}"
        f"[/]: {run.strategy} search"
    )
    if result.outcome == "violation":
        v = result.violations[0]
        shortest = " (a shortest trace)" if run.strategy == "bfs" else ""
        console.print(
            f"[red]violation[/]: {v.invariant} after {len(result.trace)} atomic "
            f"steps{shortest}: {escape(v.detail)}",
            highlight=False,
        )
        if run.replay is not None:
            print_run(run.replay, console)
            if not run.reproduced:
                console.print("[red]MODEL BUG[/]: the emitted scenario does not replay to the same violation")
    elif result.outcome == "complete":
        bound = f" within {result.reason}" if result.reason else ""
        console.print(f"[green]no violation[/]{bound}: the search covered every reachable state")
    else:
        console.print(
            f"[yellow]stopped by {escape(result.reason)}[/] before an answer (partial statistics below)"
        )
    st = stats_json(run)
    console.print(
        f"states {st['states']:,}  distinct {st['distinct']:,}  max depth {st['max_depth']}  "
        f"{st['seconds']} s  {st['distinct_per_second'] or 0:,.0f} distinct/s  "
        f"peak {st['peak_memory_mb']} MB  reduced {st['reduced_transitions']:,} transitions",
        highlight=False,
    )
    coverage = run.result.coverage
    if coverage is not None:
        members = coverage["members"]
        union, total = coverage["union"], coverage["sum"]
        console.print(
            f"swarm of {len(members)} random-walk searches ({run.engine}): {union:,} distinct states "
            f"together, {total:,} counted by the members one by one "
            f"({1 - union / max(total, 1):.0%} seen by more than one)",
            highlight=False,
        )
    elif run.engine != "single":
        per_state = run.result.exchanged_bytes / max(st["distinct"], 1)  # type: ignore[call-overload]
        console.print(
            f"{run.workers} workers ({run.engine}): {run.result.exchanged_bytes / 2**20:,.1f} MB "
            f"exchanged, {per_state:,.0f} bytes a distinct state",
            highlight=False,
        )
    fp = st["fingerprints"]
    if fp:
        console.print(
            f"fingerprints {fp['bits']}-bit: probability that a state was wrongly taken "
            f"as visited {fp['omission_probability']:.1e} (n(n-1)/2^{fp['bits'] + 1}; "
            f"TLC's optimistic estimate {fp['tlc_optimistic']:.1e})",
            highlight=False,
        )


def check_json(run: CheckRun) -> dict[str, object]:
    result = run.result
    data: dict[str, object] = {
        "config": run.config.name,
        "kernel": run.kernel.name,
        "strategy": run.strategy,
        "outcome": result.outcome,
        "reason": result.reason,
        "stats": stats_json(run),
        "violation": None,
        "counterexample": None,
    }
    if result.violations:
        v = result.violations[0]
        data["violation"] = {
            "invariant": v.invariant,
            "detail": v.detail,
            "steps": len(result.trace),
            "reproduced": run.reproduced,
        }
    if run.replay is not None:
        data["counterexample"] = run_json(run.replay)
    return data
