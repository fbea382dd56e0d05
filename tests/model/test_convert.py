"""The compact layout holds everything a state has: every machine that a built-in
scenario or a built-in check configuration reaches comes back from the vector
unchanged.  This is what lets the port move the engine to the vector without losing
state (docs/design-notes/compact-state.md)."""

from __future__ import annotations

from collections import deque

import pytest

from cowlab.check.model import CheckModel
from cowlab.engine.run import Replay
from cowlab.history import kernel_at
from cowlab.model import Machine
from cowlab.model.state.convert import flatten, normalized, unflatten
from cowlab.model.state.records import RecordMachine
from cowlab.scenario.catalog import builtin_config_names, builtin_names, load_builtin, load_named_config


def round_trips(m: Machine) -> None:
    if isinstance(m, RecordMachine):  # the engines boot vector states: check their records
        m = m.records()
    f = flatten(m)
    assert normalized(unflatten(f)) == normalized(m)
    assert flatten(unflatten(f)) == f


@pytest.mark.parametrize("kernel", ["v5.8", "v5.16", "v6.12"])
def test_every_scenario_state_round_trips(kernel: str) -> None:
    k = kernel_at(kernel)
    for name in builtin_names():
        sc = load_builtin(name)
        replay = Replay(sc, k)
        round_trips(replay.machine)
        for step in sc.steps:
            replay.do(step)
            round_trips(replay.machine)


@pytest.mark.parametrize("config", builtin_config_names())
def test_every_checker_state_round_trips(config: str) -> None:
    """Breadth-first over the configuration (up to 3,000 states), stopped threads and
    their continuation frames included."""
    model = CheckModel(load_named_config(config), kernel_at("v5.16"), sanity=False)
    start = model.initial()
    queue, seen = deque([start]), {start}
    while queue and len(seen) < 3000:
        state = queue.popleft()
        round_trips(state.machine)
        for t in model.transitions(state):
            nxt = model.step(state, t)[0]
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
