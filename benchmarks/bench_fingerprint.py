"""Per-state cost of the visited set's pieces, compiled against interpreted: the stable
fingerprint of a canonical key (encode + BLAKE2b), the fingerprint-set insert, and for
comparison what the dict-based visited set paid (hash + insert of the key itself).

    .venv/bin/python benchmarks/bench_fingerprint.py            # the installed mode
    COWLAB_PURE=1 .venv/bin/python benchmarks/bench_fingerprint.py

The keys are the canonical keys of the successors of the first states of a bounded
search of benchmarks/configs/gaudi-large.yaml, in search order.  Best of three.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from pathlib import Path

from cowlab.check import compiled, keyhash
from cowlab.check.canon import canonical
from cowlab.check.fingerprints import FingerprintSet
from cowlab.check.keyhash import encode, fingerprint64, fingerprint128
from cowlab.check.model import CheckModel
from cowlab.check.result import Limits
from cowlab.check.search import explore, new_memory
from cowlab.history import kernel_at
from cowlab.scenario import load_check_config

LARGE = Path(__file__).parent / "configs" / "gaudi-large.yaml"


def sample_keys(states: int) -> list[object]:
    model = CheckModel(load_check_config(LARGE), kernel_at("v5.8"))
    mem = new_memory(model, "bfs")
    explore(model, Limits(max_states=states), mem)
    keys = []
    for state, _, _ in list(mem.frontier)[:5000]:
        for t in model.transitions(state):
            keys.append(canonical(model.step(state, t)[0], model.symmetry))
    return keys


def per_item(fn, items: list[object]) -> float:  # type: ignore[no-untyped-def]
    """Best of three, in microseconds per item, each pass with cold encoding memos (as
    in a search, where most keys are seen once)."""
    best = float("inf")
    for _ in range(3):
        for memo in ("_MEMO", "_SET_CACHE"):  # (compiled, _SET_CACHE is a C global)
            getattr(keyhash, memo, {}).clear()
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t0)
    return best / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--states", type=int, default=20_000)
    args = parser.parse_args()
    gc.disable()  # as during a search
    keys = sample_keys(args.states)
    mode = "compiled" if compiled.in_use() else "interpreted"
    size = sum(len(encode(k)) for k in keys) / len(keys)
    print(f"{mode}: {len(keys):,} successor keys, {size:.0f} encoded bytes a key on average")
    print(f"  encode                {per_item(encode, keys):6.2f} us/key")
    print(f"  fingerprint64         {per_item(fingerprint64, keys):6.2f} us/key")
    print(f"  fingerprint128        {per_item(fingerprint128, keys):6.2f} us/key")
    rng = random.Random(0)
    fps = [rng.getrandbits(64) for _ in range(1_000_000)]

    def fresh_set_insert(values: list[int]) -> float:
        best = float("inf")
        for _ in range(3):
            table = FingerprintSet()
            t0 = time.perf_counter()
            for v in values:
                table.add(v)
            best = min(best, time.perf_counter() - t0)
        return best / len(values) * 1e6

    table = FingerprintSet()
    for v in fps:
        table.add(v)
    print(f"  set insert, new       {fresh_set_insert(fps):6.2f} us (1M random fingerprints, with growth)")
    print(f"  set insert, present   {per_item(table.add, fps):6.2f} us")
    print(f"  set lookup            {per_item(table.__contains__, fps):6.2f} us")
    print(
        f"  table: {table.nbytes / len(table):.1f} bytes a fingerprint at {len(table):,} "
        f"(capacity {table.capacity:,})"
    )
    visited: dict[object, int] = {}
    print(
        f"  for comparison, dict visited set (hash + insert of the key): "
        f"{per_item(lambda k: visited.setdefault(k, 0), keys):.2f} us/key"
    )


if __name__ == "__main__":
    main()
