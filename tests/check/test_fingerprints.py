"""The fingerprint set against a Python set, its serialisation, and the omission bound."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cowlab.check.fingerprints import (
    MIN_CAPACITY,
    ZERO_STAND_IN,
    FingerprintError,
    FingerprintSet,
    omission_probability,
    tlc_estimate,
)

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
U128 = st.integers(min_value=0, max_value=(1 << 128) - 1)


def _stored(fp: int) -> int:
    return fp or ZERO_STAND_IN


@settings(max_examples=60, deadline=None)
@given(st.lists(U64, max_size=3000), st.lists(U64, max_size=50))
def test_behaves_like_a_set_64(values: list[int], probes: list[int]) -> None:
    fps = FingerprintSet()
    model: set[int] = set()
    for v in values:
        assert fps.add(v) == (_stored(v) not in model)
        model.add(_stored(v))
    assert len(fps) == len(model)
    assert all(v in fps for v in values)
    assert all((p in fps) == (_stored(p) in model) for p in probes)
    assert sorted(fps) == sorted(model)
    assert fps.capacity >= MIN_CAPACITY and fps.capacity & (fps.capacity - 1) == 0
    assert len(fps) <= fps.capacity * 3 // 4 + 1


@settings(max_examples=40, deadline=None)
@given(st.lists(U128, max_size=2000))
def test_behaves_like_a_set_128(values: list[int]) -> None:
    fps = FingerprintSet(bits=128)
    model = {v or ZERO_STAND_IN << 64 for v in values}
    for v in values:
        fps.add(v)
    assert len(fps) == len(model)
    assert all(v in fps for v in values)
    assert fps.nbytes == 16 * fps.capacity


@settings(max_examples=30, deadline=None)
@given(st.lists(U64, max_size=2000), st.sampled_from([64, 128]))
def test_round_trip_through_bytes(values: list[int], bits: int) -> None:
    fps = FingerprintSet(bits)
    for v in values:
        fps.add(v)
    back = FingerprintSet.from_bytes(fps.to_bytes())
    assert (back.bits, len(back), back.capacity) == (bits, len(fps), fps.capacity)
    assert sorted(back) == sorted(fps)
    assert not back.add(values[0]) if values else True
    assert sorted(pickle.loads(pickle.dumps(fps))) == sorted(fps)


def test_empty_marker_is_mapped_away() -> None:
    fps = FingerprintSet()
    assert fps.add(0)
    assert 0 in fps and ZERO_STAND_IN in fps
    assert not fps.add(0) and not fps.add(ZERO_STAND_IN)
    assert len(fps) == 1


def test_grows_past_three_quarters() -> None:
    fps = FingerprintSet()
    for v in range(1, MIN_CAPACITY * 3 // 4 + 2):
        fps.add(v * 0x9E3779B97F4A7C15 % (1 << 64))
    assert fps.capacity == 2 * MIN_CAPACITY


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic"])
def test_damaged_bytes_are_refused(damage: str) -> None:
    fps = FingerprintSet()
    for v in range(1, 100):
        fps.add(v)
    data = bytearray(fps.to_bytes())
    if damage == "truncate":
        data = data[:-8]
    elif damage == "flip":
        data[-1] ^= 1
    else:
        data[0] ^= 1
    with pytest.raises(FingerprintError):
        FingerprintSet.from_bytes(bytes(data))


def test_only_64_or_128_bits() -> None:
    with pytest.raises(ValueError):
        FingerprintSet(bits=32)


def test_omission_probability() -> None:
    assert omission_probability(0) == 0.0
    # a million states and 64 bits: n(n-1)/2^65, about 2.7e-8
    assert omission_probability(10**6) == pytest.approx(10**6 * (10**6 - 1) / 2**65)
    assert omission_probability(10**6, 128) < 1e-20
    assert omission_probability(10**12) == 1.0
    # TLC's example run: 252,932 distinct of 4,612,656 generated prints 6.0E-8
    assert tlc_estimate(252_932, 4_612_656) == pytest.approx(6.0e-8, rel=0.01)


@pytest.mark.parametrize("bits", [64, 128])
def test_a_table_streams_out_and_back_in_pieces(bits: int) -> None:
    """A checkpoint writes the table in pieces and reads it straight back into place:
    the same set, and a damaged piece is refused."""
    import io

    fps = FingerprintSet(bits)
    for i in range(1, 5000):
        fps.add(i * 0x9E3779B97F4A7C15 % (1 << bits))
    data = b"".join(bytes(c) for c in fps.to_chunks(size=1000))
    assert data == fps.to_bytes()
    back = FingerprintSet.from_reader(io.BytesIO(data).read, size=777)
    assert sorted(back) == sorted(fps) and len(back) == len(fps)
    damaged = bytearray(data)
    damaged[-5] ^= 1
    with pytest.raises(FingerprintError, match="checksum"):
        FingerprintSet.from_reader(io.BytesIO(bytes(damaged)).read)
