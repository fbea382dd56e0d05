"""docs/oracle-report.md: the agreement table of model and real kernels, generated.

Every disagreement must be fixed in the model or explained here, in KNOWN, with the
reason; an unexplained one is printed as such so that nobody mistakes it for noise.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from pathlib import Path

from cowlab.oracle.runner import Cell

#: (scenario, kernel) -> why model and kernel legitimately disagree
KNOWN: dict[tuple[str, str], str] = {
    ("rdma-fork-gup-fast", "5.10"): (
        "the race needs GUP-fast to pin inside fork's copy of the page tables; the C "
        "program runs the steps in their written order, so fork finishes first and the "
        "pin is taken afterwards, which is safe on every kernel"
    ),
}


def debian_version(vmlinuz: Path) -> str:
    """The Debian package version in a kernel image's uncompressed version banner."""
    match = re.search(rb"SMP (?:PREEMPT_DYNAMIC )?Debian (\S+) \(", vmlinuz.read_bytes()[:65536])
    return match.group(1).decode() if match else "?"


def booted_versions(cells: Sequence[Cell]) -> dict[str, str]:
    """kernel -> what it booted and what it was compared with, from its cells:
    ``Debian 6.1.192-3 (6.1.0-57-cloud-amd64), model v6.1.192``."""
    out: dict[str, str] = {}
    for c in cells:
        if c.kernel in out or not (c.release or c.model_kernel):
            continue
        what = f"Debian {c.booted} ({c.release})" if c.booted else (c.release or "not booted")
        out[c.kernel] = f"{what}, model {c.model_kernel or 'none'}"
    return out


def markdown(
    cells: Sequence[Cell], command: str, refused: dict[str, str], versions: dict[str, str] | None = None
) -> str:
    """The report; ``versions`` (kernel -> text) overrides what the cells say was booted."""
    kernels = list(dict.fromkeys(c.kernel for c in cells))
    versions = {**booted_versions(cells), **(versions or {})}
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    lines = [
        "# Oracle report: the model against real kernels",
        "",
        f"Generated {today} by `{command}`.",
        "",
        "Kernels: " + ", ".join(f"{k} = {versions[k]}" if k in versions else k for k in kernels) + ".  "
        "Each scenario is exported as a C program (`cowlab export-c`), run in one QEMU boot "
        "per kernel (TCG, two NUMA nodes; `host` is this machine's own kernel), and its TAP "
        "verdict compared with the model's.  `skip` means the kernel lacks what the program "
        "needs (swap, free huge pages, the cowlab_pin module on the host); `error` means no verdict "
        "(panic, timeout, no output).",
        "",
        "| scenario | " + " | ".join(kernels) + " |",
        "|---|" + "---|" * len(kernels),
    ]
    by = {(c.scenario, c.kernel): c for c in cells}
    for name in dict.fromkeys(c.scenario for c in cells):
        row = []
        for k in kernels:
            c = by.get((name, k))
            if c is None:
                row.append("")
                continue
            model = "holds" if c.model == "holds" else f"broken ({c.invariant})"
            mark = {True: "agree", False: "**DISAGREE**", None: c.real}[c.agree]
            row.append(f"{model} / {c.real}: {mark}")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    lines += ["", "## Disagreements", ""]
    disagree = [c for c in cells if c.agree is False]
    if not disagree:
        lines.append("None.")
    for c in disagree:
        why = KNOWN.get((c.scenario, c.kernel), "UNEXPLAINED")
        lines.append(f"- {c.scenario} on {c.kernel}: model {c.model}, real {c.real}: {why}")
    lines += ["", "## Not exported", ""]
    lines += [f"- {name}: {why}" for name, why in refused.items()] or ["None."]
    agree = sum(c.agree is True for c in cells)
    lines += [
        "",
        f"Totals: {agree} agree, {len(disagree)} disagree, "
        f"{sum(c.real == 'skip' for c in cells)} skip, "
        f"{sum(c.real == 'error' for c in cells)} error, of {len(cells)} cells.",
        "",
    ]
    return "\n".join(lines)
