"""The frontier's vector packing: every vector of 32-bit words comes back exactly, the
same bytes in both modes, and bytes that are not a packed vector of the expected length
are refused rather than read as a wrong state."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cowlab.check.vector_pack import VectorPackError, pack_vector, unpack_vector

WORD = st.integers(-(2**31), 2**31 - 1)
#: mostly zeros and small words, as state vectors are
VECTORS = st.lists(st.one_of(st.just(0), st.just(0), st.integers(-3, 300), WORD), max_size=600)


@given(VECTORS)
def test_every_vector_comes_back(words: list[int]) -> None:
    vector = array("i", words)
    assert unpack_vector(pack_vector(vector), len(vector)) == vector


def test_the_format_is_what_the_docstring_says() -> None:
    # 0 -> zero run; 1 -> zigzag 2; -1 -> 1; 300 -> zigzag 600 = 0xd8 0x04; three zeros
    assert pack_vector(array("i", [0, 1, -1, 300, 0, 0, 0])) == bytes([0x00, 1, 2, 1, 0xD8, 0x04, 0x00, 3])


def test_a_state_vector_packs_small() -> None:
    from cowlab.check.model import CheckModel
    from cowlab.history import kernel_at
    from cowlab.scenario.catalog import load_named_config

    model = CheckModel(load_named_config("gaudi-open"), kernel_at("v5.8"))
    state = model.initial()
    for _ in range(4):
        state = model.step(state, model.transitions(state)[0])[0]
    vector = state.machine.vector
    packed = pack_vector(vector)
    assert len(packed) * 4 < len(vector.tobytes())
    assert model.unpack(model.pack(state)).machine.vector == vector


@pytest.mark.parametrize(
    ("data", "n", "why"),
    [
        (bytes([2, 2]), 1, "longer than 1 words"),
        (bytes([0x00, 5]), 4, "longer than 4 words"),
        (bytes([2]), 2, "has 1 words, not 2"),
        (bytes([0x82]), 1, "ends inside a word"),
        (bytes([0xFF] * 7), 1, "ends inside a word"),
    ],
)
def test_bytes_that_are_not_a_vector_are_refused(data: bytes, n: int, why: str) -> None:
    with pytest.raises(VectorPackError, match=why):
        unpack_vector(data, n)
