"""Where a breadth-first search spends its time, phase by phase, and what each costs.

    .venv/bin/python benchmarks/bench_check_phases.py [--states 20000] [--kernel v5.8]

Runs the search loop of ``cowlab.check.search`` by hand on gaudi-large (unpack a
frontier state, enumerate its transitions, step each, canonicalise, fingerprint, check
sanity of a new state, pack it) with a timer around every phase, so that the compiled
build can be profiled without cProfile (which does not see C calls between compiled
modules).  Prints distinct states/s, each phase's share of the time and its cost in
microseconds per call.  The counts match ``bench_check.py large`` at the same limit.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cowlab.check import compiled
from cowlab.check.canon import canonical
from cowlab.check.keyhash import fingerprint64
from cowlab.check.model import CheckModel
from cowlab.history import kernel_at
from cowlab.scenario import load_check_config

LARGE = Path(__file__).parent / "configs" / "gaudi-large.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--states", type=int, default=20_000)
    parser.add_argument("--kernel", default="v5.8")
    args = parser.parse_args()
    model = CheckModel(load_check_config(LARGE), kernel_at(args.kernel))
    seconds: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()

    def timed(phase: str, fn: Callable[..., Any], *fn_args: Any) -> Any:
        t = time.perf_counter()
        out = fn(*fn_args)
        seconds[phase] += time.perf_counter() - t
        calls[phase] += 1
        return out

    init = model.initial()
    visited = {fingerprint64(canonical(init, model.symmetry))}
    frontier = collections.deque([model.pack(init)])
    distinct = 1
    t0 = time.perf_counter()
    while frontier and distinct < args.states:
        state = timed("unpack", model.unpack, frontier.popleft())
        for t in timed("transitions", model.transitions, state):
            successor = timed("step", model.step, state, t)[0]
            key = timed("canonical", canonical, successor, model.symmetry)
            fingerprint = timed("fingerprint", fingerprint64, key)
            if fingerprint in visited:
                continue
            visited.add(fingerprint)
            distinct += 1
            timed("sanity", model.sanity_of, successor)
            frontier.append(timed("pack", model.pack, successor))
    total = time.perf_counter() - t0
    mode = "compiled" if compiled.in_use() else "interpreted"
    print(
        f"gaudi-large {args.kernel} ({mode}): {distinct:,} distinct in {total:.2f} s, "
        f"{distinct / total:,.0f} distinct/s"
    )
    print(f"  {'phase':<12} {'share':>6} {'us/call':>8} {'calls':>9}")
    for phase, spent in seconds.most_common():
        print(
            f"  {phase:<12} {100 * spent / total:5.1f}% {1e6 * spent / calls[phase]:8.2f} {calls[phase]:9,}"
        )


if __name__ == "__main__":
    main()
