"""Model-checker speed and memory: prints the figures recorded in BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_check.py small     # gaudi-open on several kernels
    .venv/bin/python benchmarks/bench_check.py large     # >= 1M states, 1 vs 2 workers

Figures: distinct states/s and transitions/s (one process), bytes per stored state
(resident-memory growth divided by distinct states), time to the first (shortest)
counterexample, and the speed-up of ``--workers 2`` on the large configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cowlab.check.result import Limits, current_rss_mb
from cowlab.check.runner import run_check
from cowlab.history import kernel_at
from cowlab.scenario import load_check_config
from cowlab.scenario.catalog import load_named_config

HERE = Path(__file__).parent
LARGE = HERE / "configs" / "gaudi-large.yaml"


def small() -> None:
    print(
        f"{'config':<12} {'kernel':<7} {'outcome':<10} {'distinct':>9} {'transitions':>11} "
        f"{'seconds':>8} {'distinct/s':>10} {'trans/s':>9} {'trace':>5}"
    )
    for kernel in ("v5.8", "v5.16", "v5.17", "v6.2"):
        best = None
        for _ in range(3):  # best of three: the machine is shared
            t0 = time.perf_counter()
            run = run_check(load_named_config("gaudi-open"), kernel_at(kernel))
            seconds = time.perf_counter() - t0
            if best is None or seconds < best[0]:
                best = (seconds, run)
        seconds, run = best
        s = run.result.stats
        print(
            f"{'gaudi-open':<12} {kernel:<7} {run.result.outcome:<10} {s.distinct:>9,} "
            f"{s.transitions:>11,} {seconds:>8.3f} {s.distinct / seconds:>10,.0f} "
            f"{s.transitions / seconds:>9,.0f} {len(run.result.trace) or '-':>5}"
        )


def _subprocess_run(workers: int, max_states: int | None, kernel: str) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "cowlab.cli",
        "check",
        str(LARGE),
        "--kernel",
        kernel,
        "--workers",
        str(workers),
        "--json",
    ]
    if max_states:
        cmd += ["--max-states", str(max_states)]
    t0 = time.perf_counter()
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    data = json.loads(out.stdout)
    data["wall"] = time.perf_counter() - t0
    return data


def large(kernel: str, max_states: int | None, workers: bool = True) -> None:
    cfg = load_check_config(LARGE)
    base = current_rss_mb()
    t0 = time.perf_counter()
    run = run_check(cfg, kernel_at(kernel), limits=Limits(max_states=max_states or 50_000_000))
    seconds = time.perf_counter() - t0
    s = run.result.stats
    grown = (run.peak_mb - base) * 1024 * 1024
    print(
        f"gaudi-large {kernel}: {run.result.outcome} {run.result.reason}; distinct "
        f"{s.distinct:,}, transitions {s.transitions:,}, {seconds:.1f} s, "
        f"{s.distinct / seconds:,.0f} distinct/s, {s.transitions / seconds:,.0f} transitions/s, "
        f"{grown / max(s.distinct, 1):,.0f} bytes/state (peak RSS growth), "
        f"peak {run.peak_mb:,.0f} MB"
    )
    for n in (1, 2) if workers else ():
        data = _subprocess_run(n, max_states, kernel)
        st = data["stats"]
        print(
            f"  --workers {n}: {data['outcome']}, distinct {st['distinct']:,} in "
            f"{data['wall']:.1f} s wall ({st['distinct'] / data['wall']:,.0f} distinct/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("which", choices=["small", "large"])
    parser.add_argument("--kernel", default="v5.8")
    parser.add_argument("--max-states", type=int, default=None)
    parser.add_argument(
        "--no-workers",
        action="store_true",
        help="large: only the in-process run, not the 1- and 2-worker runs",
    )
    args = parser.parse_args()
    if args.which == "small":
        small()
    else:
        large(args.kernel, args.max_states, workers=not args.no_workers)


if __name__ == "__main__":
    main()
