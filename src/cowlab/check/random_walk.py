"""Seeded random walks: many executions from the initial state, each choosing an
enabled transition at random, until a violation, a dead end or the depth limit.
Finds deep bugs in spaces too large to exhaust; proves nothing when it finds none."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from cowlab.check.canon import canonical
from cowlab.check.checkpoint import Checkpointer, Section, SectionReader
from cowlab.check.fingerprints import FingerprintSet
from cowlab.check.keyhash import fingerprint64
from cowlab.check.model import CheckModel, Transition
from cowlab.check.result import Limits, SearchResult, Stats, Stopper
from cowlab.check.search import Progress, no_cyclic_gc


@dataclass
class WalkMemory:
    strategy: str
    seed: int
    rng_state: object = None
    walks: int = 0
    #: fingerprints of the canonical keys of every state the walks have seen
    seen: FingerprintSet = field(default_factory=FingerprintSet)
    stats: Stats = field(default_factory=Stats)

    @property
    def fingerprint_bits(self) -> int:
        return self.seen.bits

    def checkpoint_sections(self) -> list[Section]:
        """The seen set as a raw table, the generator's state and the counts as JSON."""
        version, internal, gauss = self.rng_state  # type: ignore[misc]
        walk = {
            "seed": self.seed,
            "walks": self.walks,
            "stats": self.stats.to_plain(),
            "rng": [version, list(internal), gauss],
        }
        return [("fingerprints", self.seen.to_chunks()), ("walks", json.dumps(walk).encode())]

    @classmethod
    def from_checkpoint_sections(cls, sections: Mapping[str, SectionReader]) -> WalkMemory:
        walk = json.loads(sections["walks"].read())
        version, internal, gauss = walk["rng"]
        rng_state = (version, tuple(internal), gauss)
        random.Random().setstate(rng_state)  # refuses a state that is not one
        walks = walk["walks"]
        if type(walks) is not int or walks < 0:
            raise ValueError(f"walks: {walks!r}")
        return cls(
            "random",
            walk["seed"],
            rng_state,
            walks,
            FingerprintSet.from_reader(sections["fingerprints"].read),
            Stats.from_plain(walk["stats"]),
        )


def new_walk_memory(seed: int) -> WalkMemory:
    mem = WalkMemory("random", seed)
    mem.rng_state = random.Random(seed).getstate()
    return mem


def random_walks(
    model: CheckModel,
    limits: Limits,
    mem: WalkMemory,
    *,
    max_walks: int = 1_000_000,
    checkpointer: Checkpointer | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    rng = random.Random()
    rng.setstate(mem.rng_state)  # type: ignore[arg-type]
    stats = mem.stats
    stats.resume_clock()
    stop = Stopper(limits, stats, every=1)
    depth_limit = min(limits.max_depth, 100_000)
    with no_cyclic_gc():
        return _walks(model, rng, mem, stop, depth_limit, max_walks, checkpointer, progress)


def _walks(
    model: CheckModel,
    rng: random.Random,
    mem: WalkMemory,
    stop: Stopper,
    depth_limit: int,
    max_walks: int,
    checkpointer: Checkpointer | None,
    progress: Progress | None,
) -> SearchResult:
    stats = mem.stats
    try:
        while mem.walks < max_walks:
            mem.rng_state = rng.getstate()
            reason = stop.poll(mem, 0, checkpointer, progress)
            if reason:
                return _stop(mem, reason, checkpointer)
            state = model.initial()
            trace: list[Transition] = []
            for _ in range(depth_limit):
                enabled = model.transitions(state)
                if not enabled:
                    break
                t = rng.choice(enabled)
                state, found, _ = model.step(state, t)
                trace.append(t)
                stats.transitions += 1
                if found:
                    return SearchResult("violation", stats, trace=trace, violations=found)
                if mem.seen.add(fingerprint64(canonical(state, model.symmetry))):
                    stats.distinct += 1
                    bug = model.sanity_of(state)
                    if bug:
                        return SearchResult("violation", stats, trace=trace, violations=bug)
                stats.max_depth = max(stats.max_depth, len(trace))
            mem.walks += 1
    except KeyboardInterrupt:
        return _stop(mem, "interrupted", checkpointer)
    return SearchResult("limit", stats, reason=f"{max_walks} walks without a violation")


def _stop(mem: WalkMemory, reason: str, checkpointer: Checkpointer | None) -> SearchResult:
    if checkpointer is not None:
        checkpointer.save(mem)
    return SearchResult("limit", mem.stats, reason=reason)
