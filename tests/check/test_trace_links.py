"""Trace links: parent index and transition number per state, and the rebuilt trace."""

from __future__ import annotations

import pytest

from cowlab.check.model import CheckModel
from cowlab.check.result import Limits
from cowlab.check.search import explore, new_memory, trace_to
from cowlab.check.trace_links import ROOT, TraceLinks, TraceLinksError
from cowlab.history import kernel_at
from cowlab.scenario.catalog import load_named_config


def test_path_and_round_trip() -> None:
    links = TraceLinks()
    root = links.add(ROOT, 0)
    a = links.add(root, 3)
    b = links.add(a, 70_000)  # wider than 16 bits: the numbers widen
    links.add(root, 1)
    assert links.path(b) == [3, 70_000] and links.path(root) == []
    back = TraceLinks.from_bytes(links.to_bytes())
    assert [back.path(i) for i in range(len(back))] == [links.path(i) for i in range(len(links))]
    data = bytearray(links.to_bytes())
    data[-1] ^= 1
    with pytest.raises(TraceLinksError):
        TraceLinks.from_bytes(bytes(data))


def test_every_stored_state_is_reached_again_by_its_trace() -> None:
    """Stepping along each state's numbered transitions from the initial state reaches
    a state with the stored fingerprint (spot check over a bounded search)."""
    from cowlab.check.search import fingerprint_of

    model = CheckModel(load_named_config("gaudi-open"), kernel_at("v5.8"))
    mem = new_memory(model, "bfs")
    explore(model, Limits(max_states=300), mem, reduce=True)
    for index in range(0, len(mem.links), 17):
        state = model.initial()
        for t in trace_to(model, mem, index):
            state = model.step(state, t)[0]
        assert fingerprint_of(state, model) in mem.visited


def test_links_stream_out_and_back_in_pieces() -> None:
    import io

    links = TraceLinks()
    for i in range(70_000):
        links.add(i // 3 - 1 if i else -1, i % 300)
    data = b"".join(bytes(c) for c in links.to_chunks(size=1000))
    assert data == links.to_bytes()
    back = TraceLinks.from_reader(io.BytesIO(data).read, size=333)
    assert back.parents == links.parents and back.numbers == links.numbers
    assert back.path(69_999) == links.path(69_999)
