"""Renaming pfns and slots on the vector identifies exactly the states that the record
canonical form (cowlab.check.canon) identifies: the checker can move its visited-set
keys to vectors without changing a distinct-state count."""

from __future__ import annotations

from collections import deque

import pytest

from cowlab.check.canon import canonical_machine
from cowlab.check.model import CheckModel
from cowlab.engine.bounds import bounds_for
from cowlab.history import kernel_at
from cowlab.model.layout import Layout
from cowlab.model.state.convert import flatten
from cowlab.model.state.rename import first_appearance, renamed
from cowlab.scenario.catalog import builtin_config_names, load_named_config


@pytest.mark.parametrize("config", builtin_config_names())
@pytest.mark.parametrize("kernel", ["v5.8", "v5.16", "v6.2"])
def test_vector_renaming_keeps_the_equivalence_classes(config: str, kernel: str) -> None:
    cfg = load_named_config(config)
    model = CheckModel(cfg, kernel_at(kernel), sanity=False, symmetry=False)
    layout = Layout(bounds_for(cfg.scenario, [s.action for _, prog in cfg.programs for s in prog]))
    start = model.initial()
    queue, seen = deque([start]), {start}
    by_vector: dict[bytes, object] = {}
    by_record: dict[object, bytes] = {}
    while queue and len(seen) < 2000:
        state = queue.popleft()
        m = state.machine
        m = m.records() if hasattr(m, "records") else m
        f = flatten(m, layout)
        key = renamed(f, *first_appearance(f)).tobytes()
        record_key = canonical_machine(m)
        assert by_vector.setdefault(key, record_key) == record_key
        assert by_record.setdefault(record_key, key) == key
        for t in model.transitions(state):
            nxt = model.step(state, t)[0]
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert len(by_vector) == len(by_record) > 1
