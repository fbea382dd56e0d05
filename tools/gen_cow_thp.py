"""Write the THP backings of the cow.c catalog from its base-page scenarios.

cow.c (tools/testing/selftests/mm/cow.c, do_run_with_thp) runs every anon case on a
THP prepared seven ways; each backing here is the same preparation, in cowlab steps,
in front of the case's steps.  ``introduced_by``/``fixed_by`` are left for the
author: they are declarations, checked by tests/engine/test_bisect.py, and must be
reviewed against docs/reference/kernel-behaviour.md and docs/research/thp.md, not
copied from what the model says.  Each file's first reference is cow.c's result line
for the case on that backing (``cow.c: CASE ... with THP (2048 kB)``), which
``cowlab oracle selftest`` matches with the selftest's output.

    python tools/gen_cow_thp.py          # writes src/cowlab/scenarios/cow-*-thp*.yaml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

SCENARIOS = Path(__file__).resolve().parent.parent / "src" / "cowlab" / "scenarios"
HEADER = "  - T1: {mmap: mem, pages: 1}\n  - T1: {write: mem}\n"
POPULATE = (
    "  - T1: {mmap: mem, pages: 4, thp: true}  # MADV_HUGEPAGE, PMD-aligned\n"
    "  - T1: {write: mem}  # the first touch maps a whole THP by a PMD\n"
)
PTE_MAP = (
    "  - T1: {mprotect: mem, prot: r, first: 1, count: 1}  # splits the PMD\n"
    "  - T1: {mprotect: mem, prot: rw, first: 1, count: 1}\n"
)
SINGLE = "  - T1: {madvise: mem, advice: dontneed, first: 1, count: 3}\n"
PAGEOUT = "  - T1: {madvise: mem, advice: pageout}\n"

#: suffix -> (cow.c's words for the backing, its preparation after POPULATE, what it is)
BACKINGS = {
    "thp": ("THP (2048 kB)", "", "a PMD-mapped THP"),
    "thp-swap": (
        "swapped-out THP (2048 kB)",
        PAGEOUT,
        "a THP paged out (reclaim splits it; its subpages come back as small pages)",
    ),
    "pte-thp": (
        "PTE-mapped THP (2048 kB)",
        PTE_MAP,
        "a THP whose PMD an mprotect() of one subpage split into PTEs",
    ),
    "pte-thp-swap": (
        "swapped-out, PTE-mapped THP (2048 kB)",
        PTE_MAP + PAGEOUT,
        "a PTE-mapped THP paged out",
    ),
    "single-pte-thp": (
        "single PTE of THP (2048 kB)",
        PTE_MAP + SINGLE,
        "the one PTE left of a PTE-mapped THP after MADV_DONTNEED of the rest",
    ),
    "single-pte-thp-swap": (
        "single PTE of swapped-out THP (2048 kB)",
        PTE_MAP + SINGLE + PAGEOUT,
        "that single PTE, paged out",
    ),
    "mremap-thp": (
        "partially mremap()'ed THP (2048 kB)",
        "  - T1: {mremap: mem, to: moved, first: 2, count: 2}  # half moves away\n",
        "a THP whose upper half mremap() moved elsewhere (the PMD is split, "
        "the folio mapped from two VMAs); the test runs on the lower half",
    ),
    "shared-thp": (
        "partially shared THP (2048 kB)",
        "  - T1: {madvise: mem, advice: dontfork, first: 1, count: 3}\n"
        "  - T1: {fork: X}  # shares only the first subpage\n"
        "  - X: exit\n"
        "  - T1: {madvise: mem, advice: dofork, first: 1, count: 3}\n",
        "a THP whose first subpage alone was shared with a child that exited",
    ),
}
# mremap-thp: cow.c runs the case on the half that stays: nothing to change.  Single
# PTE cases run on one page: also the model's default address (mem = mem[0]).


def main() -> int:
    written = 0
    for base in sorted(SCENARIOS.glob("cow-*-base.yaml")):
        text = base.read_text()
        data = yaml.safe_load(text)
        # the first reference is the selftest's result line: "cow.c: CASE ... with base page"
        line = data["references"][0]
        assert line.startswith("cow.c: ") and line.endswith(" ... with base page"), base
        case = line[len("cow.c: ") : -len(" ... with base page")]
        head, steps = text.split("steps:\n", 1)
        assert steps.startswith(HEADER), base
        for suffix, (words, prep, what) in BACKINGS.items():
            name = data["name"].removesuffix("-base") + "-" + suffix
            desc = (
                f"{case} ... with {words}: the case on {what}.  "
                f"THP rules: do_huge_pmd_wp_page (copy the huge page up to v5.7, "
                f"reuse_swap_page or split from 3917c80280c9, refcount from "
                f"3bff7e3f1f16, PageAnonExclusive from 6c287605fd56); PTE-mapped "
                f"subpages follow do_wp_page with the folio's refcount."
            )
            intro = (
                f"name: {name}\ndescription: >\n"
                + "".join(f"  {line}\n" for line in _wrap(desc))
                + "references:"
            )
            new_head = re.sub(r"(?s)^name: .*?\nreferences:", lambda _, text=intro: text, head)
            new_head = new_head.replace(f'"{line}"', f'"cow.c: {case} ... with {words}"', 1)
            refs = '  - "3917c80280c9 thp: change CoW semantics for anon-THP"\n'
            new_head = new_head.replace("introduced_by:", refs + "introduced_by:", 1)
            steps_text = POPULATE + prep + steps[len(HEADER) :]
            (SCENARIOS / f"{name}.yaml").write_text(new_head + "steps:\n" + steps_text)
            written += 1
    print(f"wrote {written} scenarios", file=sys.stderr)
    return 0


def _wrap(text: str, width: int = 86) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line]


if __name__ == "__main__":
    sys.exit(main())
