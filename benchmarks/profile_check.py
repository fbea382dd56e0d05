"""Where the checker's time goes: cProfile of a bounded search on gaudi-large.

.venv/bin/python benchmarks/profile_check.py [--max-states 40000] [--kernel v5.8]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from pathlib import Path

from cowlab.check.result import Limits
from cowlab.check.runner import run_check
from cowlab.history import kernel_at
from cowlab.scenario import load_check_config

LARGE = Path(__file__).parent / "configs" / "gaudi-large.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-states", type=int, default=40_000)
    parser.add_argument("--kernel", default="v5.8")
    args = parser.parse_args()
    cfg = load_check_config(LARGE)
    profile = cProfile.Profile()
    profile.runcall(run_check, cfg, kernel_at(args.kernel), limits=Limits(max_states=args.max_states))
    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
