"""Record (or compare) every verdict the model gives, before a change that could alter
behaviour: the compact-state rewrite of the engine must keep all of them.

* every built-in scenario on every modeled kernel (one kernel per timeline commit,
  which covers every distinct rule set, plus the stable releases at their backport
  boundaries): the promises broken, in order, and the step each first broke at;
* every built-in check configuration on every modeled kernel, breadth-first with and
  without reductions, and the slower test/benchmark configurations on a few kernels:
  outcome, distinct states, transitions, maximum depth, shortest-trace length and the
  promises the counterexample breaks.

    .venv/bin/python tools/golden_verdicts.py write tests/golden/verdicts.json
    .venv/bin/python tools/golden_verdicts.py compare tests/golden/verdicts.json

``compare`` prints every difference and exits 1 if there is one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cowlab.check.result import Limits
from cowlab.check.runner import run_check
from cowlab.engine.run import run_scenario
from cowlab.history import kernel_at
from cowlab.history.stable import STABLE_BRANCHES
from cowlab.history.timeline import TIMELINE
from cowlab.scenario.catalog import (
    builtin_config_names,
    builtin_names,
    load_builtin,
    load_named_config,
)

ROOT = Path(__file__).resolve().parent.parent

#: slower configurations: (path or name, kernels, state limit)
EXTRA_CHECKS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("tests/check/configs/medium.yaml", ("v4.9", "v5.8", "v5.16", "v5.17", "v5.19", "v6.2"), 1_000_000),
    ("benchmarks/configs/gaudi-large.yaml", ("v5.8", "v5.16", "v6.2"), 100_000),
)


def kernels() -> list[str]:
    """One kernel per modeled commit, and each stable branch at every backport and at
    its newest modeled release."""
    names = [c.hash for c in TIMELINE]
    newest = {"v5.10": 262, "v6.1": 192, "v6.12": 117}
    for branch, backports in STABLE_BRANCHES.items():
        subs = {0, newest.get(branch, 0)}
        for b in backports:
            subs |= {b.first - 1, b.first}
            subs |= {b.last, b.last + 1} if b.last is not None else set()
        names += [f"{branch}.{n}" for n in sorted(subs)]
    return names


def scenario_verdicts(kernel_names: list[str]) -> dict[str, dict[str, str]]:
    built = [kernel_at(k) for k in kernel_names]
    out: dict[str, dict[str, str]] = {}
    for name in builtin_names():
        sc = load_builtin(name)
        row = {}
        for spec, k in zip(kernel_names, built, strict=True):
            r = run_scenario(sc, k)
            if r.holds:
                row[spec] = "holds"
            else:
                first_step = {}
                for step, v in r.violations:
                    first_step.setdefault(v.invariant, step)
                row[spec] = "broken: " + ", ".join(f"{p}@{s}" for p, s in first_step.items())
        out[name] = row
    return out


def check_result(config_name: str, kernel: str, *, reduce: bool, max_states: int) -> str:
    cfg = load_named_config(config_name)
    run = run_check(cfg, kernel_at(kernel), limits=Limits(max_states=max_states), reduce=reduce)
    res = run.result
    text = (
        f"{res.outcome} distinct={res.stats.distinct} transitions={res.stats.transitions} "
        f"depth={res.stats.max_depth}"
    )
    if res.outcome == "violation":
        broken = ",".join(sorted({v.invariant for v in res.violations}))
        text += f" trace={len(res.trace)} broken={broken} replays={run.reproduced}"
    return text


def check_verdicts(kernel_names: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name in builtin_config_names():
        for reduce in (True, False):
            key = f"{name} {'reduced' if reduce else 'unreduced'}"
            out[key] = {k: check_result(name, k, reduce=reduce, max_states=1_000_000) for k in kernel_names}
    for path, kernel_list, limit in EXTRA_CHECKS:
        key = f"{path} reduced max_states={limit}"
        out[key] = {k: check_result(str(ROOT / path), k, reduce=True, max_states=limit) for k in kernel_list}
    return out


def collect() -> dict[str, object]:
    ks = kernels()
    return {"kernels": ks, "scenarios": scenario_verdicts(ks), "checks": check_verdicts(ks)}


def compare(golden: dict, now: dict) -> list[str]:
    diffs = []
    for section in ("scenarios", "checks"):
        for name in sorted(set(golden[section]) | set(now[section])):
            old, new = golden[section].get(name, {}), now[section].get(name, {})
            for k in sorted(set(old) | set(new)):
                if old.get(k) != new.get(k):
                    diffs.append(f"{section} {name} {k}: {old.get(k)} -> {new.get(k)}")
    return diffs


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("write", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    now = collect()
    path = Path(argv[2])
    if argv[1] == "write":
        path.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        return 0
    diffs = compare(json.loads(path.read_text()), now)
    for d in diffs:
        print(d)
    print(f"{len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
