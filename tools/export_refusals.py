"""Which built-in scenarios the C exporter refuses, and why: every refusal reason
with the number of scenarios it blocks (the order in which to remove them).

    PYTHONPATH=src python tools/export_refusals.py [--names] [--json]

A reason is a refused step's message with the step's names taken out, so that
``option thp=True is not supported`` counts once per scenario however many steps
carry it.  A scenario counts under the reason of its first refused step: the later
ones are mostly its consequences (a refused mmap leaves every access to the region
refused); ``--all`` counts every reason of every scenario.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict

from cowlab.oracle import ExportError, export_c
from cowlab.scenario.catalog import builtin_names, load_builtin

#: ``steps[3] T1 mmap: reason`` -> ``reason``
STEP_PREFIX = re.compile(r"^steps\[\d+\] \S+ \S+: ")


def refusal_reasons(problems: tuple[str, ...]) -> set[str]:
    """The distinct reasons of one scenario's refused steps, without step names."""
    return {STEP_PREFIX.sub("", p) for p in problems}


def tabulate(every: bool = False) -> tuple[list[str], dict[str, list[str]]]:
    """(exportable scenario names, reason -> the scenarios it blocks): by the first
    refused step of each scenario, or by all of them (``every``)."""
    exportable: list[str] = []
    blocked: dict[str, list[str]] = defaultdict(list)
    for name in builtin_names():
        try:
            export_c(load_builtin(name))
        except ExportError as exc:
            problems = exc.problems if every else exc.problems[:1]
            for reason in sorted(refusal_reasons(problems)):
                blocked[reason].append(name)
        else:
            exportable.append(name)
    return exportable, dict(blocked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", action="store_true", help="list the scenarios each reason blocks")
    parser.add_argument("--all", action="store_true", help="count every refused step, not the first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    exportable, blocked = tabulate(args.all)
    total = len(builtin_names())
    if args.json:
        print(json.dumps({"total": total, "exportable": exportable, "refused": blocked}, indent=1))
        return
    print(f"{len(exportable)} of {total} built-in scenarios export; {total - len(exportable)} are refused")
    for reason, names in sorted(blocked.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"{len(names):4d}  {reason}")
        if args.names:
            print("      " + ", ".join(names))


if __name__ == "__main__":
    main()
