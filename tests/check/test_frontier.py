"""The BFS frontier keeps bounded memory: its middle waits on disk, in order."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from cowlab.check.frontier import Frontier


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.just("append"), st.just("pop"), st.just("put_back")), max_size=400))
def test_a_frontier_is_a_fifo_queue_whatever_it_spills(ops: list[str]) -> None:
    """Against a list: the same entries come out in the same order, with chunks of 4 and
    at most 8 entries in memory, so that nearly every operation crosses the disk."""
    queue, model = Frontier(in_memory=8, chunk=4), []
    counter = 0
    for op in ops:
        if op == "append":
            queue.append(("state", counter))
            model.append(("state", counter))
            counter += 1
        elif op == "pop" and model:
            assert queue.popleft() == model.pop(0)
        elif op == "put_back" and model:
            item = queue.popleft()
            assert item == model[0]
            queue.appendleft(item)
        assert len(queue) == len(model) and list(queue) == model
    assert list(pickle.loads(pickle.dumps(queue))) == model


def test_memory_stays_bounded_while_the_queue_grows() -> None:
    queue = Frontier(in_memory=1 << 10, chunk=1 << 8)
    for i in range(10_000):
        queue.append((b"x" * 100, i, 0))
    assert len(queue) == 10_000
    assert queue.spilled >= 10_000 - (1 << 10) - (1 << 8)
    assert [queue.popleft()[1] for _ in range(10_000)] == list(range(10_000))
    assert not queue and queue.spilled == 0


def test_a_frontier_written_to_disk_reads_back_in_order() -> None:
    """``to_disk`` moves the entries held in memory (the head before the chunks on disk,
    the tail after them) to the file, without changing the order."""
    queue = Frontier(in_memory=8, chunk=4)
    for i in range(30):
        queue.append(i)
    for _ in range(3):
        queue.popleft()
    queue.to_disk()
    assert queue.spilled == len(queue) == 27
    assert list(queue) == list(range(3, 30))
    assert [queue.popleft() for _ in range(27)] == list(range(3, 30))
