"""The parallel engines on one machine, and a model of a cluster from what they measure.

    .venv/bin/python benchmarks/bench_engines.py [--max-states 1000000] [--kernel v5.8]

Runs ``cowlab check benchmarks/configs/gaudi-large.yaml`` with 1 and 2 workers on each
engine (``processes``: ``--workers 1`` is the single-process search; ``ray``: one or
two actors), each as its own command, and prints the distinct states a second (wall
clock, start-up included), the speed-up, the bytes workers sent each other per
distinct state, and the levels (barriers) the search went through.

Then it measures one barrier of Ray actors (a level's three rounds of calls, with
nothing to do) for 1, 2 and 4 actors and, since one machine cannot show a cluster,
estimates from these figures the traffic and barrier time of 8, 64 and 512 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

LARGE = Path(__file__).parent / "configs" / "gaudi-large.yaml"


def run(engine: str, workers: int, max_states: int, kernel: str) -> dict[str, object]:
    cmd = [sys.executable, "-m", "cowlab", "check", str(LARGE), "--kernel", kernel, "--json"]
    cmd += ["--engine", engine, "--workers", str(workers), "--max-states", str(max_states)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    data = json.loads(out.stdout)
    data["wall"] = wall
    return data


def barrier_seconds(actors: int, rounds: int = 200) -> float:
    """One level's barrier on local Ray actors: expand (a report and one batch per
    actor), receive (the batches by reference) and the report, with empty work."""
    import ray

    @ray.remote(num_cpus=0)
    class Idle:
        def expand(self, n: int) -> tuple[object, ...]:
            return (None, *([b""] * n))

        def receive(self, *batches: bytes) -> int:
            return len(batches)

    group = [Idle.remote() for _ in range(actors)]  # type: ignore[attr-defined]
    ray.get([a.receive.remote() for a in group])
    t0 = time.perf_counter()
    for _ in range(rounds):
        refs = [a.expand.options(num_returns=actors + 1).remote(actors) for a in group]
        ray.get([r[0] for r in refs])
        ray.get([a.receive.remote(*[r[1 + i] for r in refs]) for i, a in enumerate(group)])
    return (time.perf_counter() - t0) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-states", type=int, default=1_000_000)
    parser.add_argument("--kernel", default="v5.8")
    parser.add_argument("--engines", default="processes,ray")
    args = parser.parse_args()

    print(f"gaudi-large {args.kernel}, --max-states {args.max_states:,}, {os.cpu_count()} CPUs")
    per_state = levels = distinct = 0.0
    for engine in args.engines.split(","):
        rates = {}
        for workers in (1, 2):
            data = run(engine, workers, args.max_states, args.kernel)
            st = data["stats"]
            rates[workers] = st["distinct"] / data["wall"]
            sent = st.get("exchanged_bytes", 0) / max(st["distinct"], 1)
            if workers == 2:
                per_state, levels, distinct = sent, st["max_depth"], st["distinct"]
            print(
                f"  {engine:<9} --workers {workers}: {data['outcome']} ({data.get('reason') or '-'}), "
                f"distinct {st['distinct']:,}, depth {st['max_depth']}, {data['wall']:.1f} s wall, "
                f"{rates[workers]:,.0f} distinct/s, exchanged {sent:,.0f} bytes a state, "
                f"peak {st['peak_memory_mb']:,.0f} MB"
            )
        print(f"  {engine}: 2 workers / 1 worker = {rates[2] / rates[1]:.2f}x")

    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    barrier = {n: barrier_seconds(n) for n in (1, 2, 4)}
    ray.shutdown()
    for n, seconds in barrier.items():
        print(f"  ray barrier, {n} actors: {seconds * 1e3:.2f} ms a level")
    # a barrier costs a fixed part and a part per actor the driver calls
    per_actor = (barrier[4] - barrier[1]) / 3
    fixed = barrier[1] - per_actor
    print("model of a cluster (one worker a core; 2-worker figures scaled):")
    for n in (8, 64, 512):
        # a successor is remote with probability (n-1)/n; two workers send half of theirs
        traffic = per_state * 2 * (n - 1) / n
        print(
            f"  {n:>3} workers: {traffic:,.0f} bytes a state between workers "
            f"({traffic * distinct / 2**30:,.2f} GiB for this run, {traffic * 1e8 / 2**30:,.0f} GiB "
            f"for 10^8 states); barrier {(fixed + per_actor * n) * 1e3:,.1f} ms a level, "
            f"{(fixed + per_actor * n) * levels:,.1f} s over this run's {levels:.0f} levels"
        )


if __name__ == "__main__":
    main()
