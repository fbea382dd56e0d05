"""The cow.c and gup_longterm verdicts on the Debian kernels and v6.18 match the
reviewed golden file."""

from __future__ import annotations

import json
from pathlib import Path

from cowlab.engine.matrix import matrix
from cowlab.report.history_report import matrix_json
from cowlab.scenario.catalog import builtin_names, load_builtin

GOLDEN = Path(__file__).parents[1] / "golden" / "cow-debian.json"
KERNELS = ("v5.10.262", "v6.1.192", "v6.12.117", "v6.18")


def test_cow_c_debian_verdicts_match_the_golden_file() -> None:
    names = [n for n in builtin_names() if n.startswith(("cow-", "gup-longterm-"))]
    now = matrix_json(matrix([load_builtin(n) for n in names], KERNELS))
    golden = json.loads(GOLDEN.read_text())
    # `cowlab matrix --json` also writes what --expect found; the verdicts are compared
    assert now == {key: golden[key] for key in now}, (
        "model verdicts changed; see tests/golden/README.md to regenerate and review"
    )
