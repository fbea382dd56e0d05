"""Compiled and interpreted, the checker is one model: on every built-in configuration,
a depth-first run and seeded random walks over the stress configurations, the two modes
give the same verdicts, counts and counterexamples (tests/check/differential_runs.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cowlab.check import compiled

HERE = Path(__file__).parent


@pytest.mark.skipif(not compiled.in_use(), reason="the compiled modules are not in use")
def test_compiled_and_interpreted_checkers_agree() -> None:
    sys.path.insert(0, str(HERE))
    try:
        import differential_runs
    finally:
        sys.path.remove(str(HERE))
    pure = subprocess.run(
        [sys.executable, str(HERE / "differential_runs.py")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COWLAB_PURE": "1"},
    )
    interpreted = json.loads(pure.stdout)
    compiled_runs = json.loads(json.dumps(differential_runs.runs()))  # tuples as lists
    assert set(compiled_runs) == set(interpreted)
    for name, want in interpreted.items():
        assert compiled_runs[name] == want, name
    outcomes = {run["outcome"] for run in interpreted.values()}
    assert {"violation", "complete"} <= outcomes  # the slice sees both verdicts
