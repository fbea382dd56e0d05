"""Stable key fingerprints: the encoding follows ==, never changes between processes or
builds, and the compiled module agrees with its Python source."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cowlab.check import keyhash
from cowlab.check.keyhash import encode, fingerprint64, fingerprint128

SOURCE = Path(keyhash.__file__).with_name("keyhash.py")


class Rec(NamedTuple):
    a: int
    b: object


scalars = (
    st.integers(min_value=-(1 << 70), max_value=1 << 70)
    | st.booleans()
    | st.none()
    | st.text(max_size=6)
    | st.floats(allow_nan=False)
)
keys = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5).map(tuple)
        | st.frozensets(st.integers(-300, 300) | st.text(max_size=3), max_size=5)
        | st.builds(Rec, st.integers(), inner)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(keys, keys)
def test_encoding_follows_equality(a: object, b: object) -> None:
    assert (encode(a) == encode(b)) == (a == b)


def test_equal_keys_of_different_construction_share_a_fingerprint() -> None:
    assert fingerprint64(Rec(1, True)) == fingerprint64((1, 1)) == fingerprint64((True, 1.0))
    big = frozenset(range(0, 4000, 7))
    rebuilt = frozenset(sorted(big, reverse=True)) | frozenset()
    assert fingerprint64((big,)) == fingerprint64((rebuilt,))
    assert fingerprint64((1, 2)) != fingerprint64((2, 1))
    assert fingerprint64(((1,), 2)) != fingerprint64((1, (2,)))


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot fingerprint a list"):
        fingerprint64(([1],))
    assert fingerprint64(({1, 2},)) == fingerprint64((frozenset({2, 1}),))


#: recorded once: a change of the encoding or the hash makes older checkpoints useless
EXPECTED_64 = 16153513197989247575  # XXH3 since 2026-12-06 (BLAKE2b gave 2839460717643115610)


def test_fingerprints_are_stable_across_processes() -> None:
    key = (0, -1, 127, 128, "T1", None, (True, False), frozenset({3, 1, 2}), 1 << 80, 2.5)
    code = f"from cowlab.check.keyhash import fingerprint64 as f;print(f({key!r}))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert runs == {str(fingerprint64(key))}
    assert fingerprint64(key) == EXPECTED_64
    assert fingerprint128(key) >> 64 != 0


def _source_module() -> object:
    spec = importlib.util.spec_from_file_location("_keyhash_source", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(max_examples=200, deadline=None)
@given(keys)
def test_compiled_and_source_give_the_same_bytes(key: object) -> None:
    source = _SOURCE_MODULE
    assert not source.COMPILED  # type: ignore[attr-defined]
    assert source.encode(key) == encode(key)  # type: ignore[attr-defined]
    # both interpreted walks agree too: the memoised one and the buffer writer
    assert source._Writer().encode(key) == source._encode_interpreted(key)  # type: ignore[attr-defined]


_SOURCE_MODULE = _source_module()


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=200, max_size=3000), keys, st.binary(max_size=600))
def test_a_state_vector_is_hashed_in_place_to_the_same_fingerprint(
    vector: bytes, rest: object, more: bytes
) -> None:
    """A large bytes item (a canonical state vector) is streamed into the hash, not
    copied: the fingerprint is still that of the whole encoding, in both modes."""
    import xxhash

    key = (vector, rest, more, (vector, 1))
    whole = encode(key)
    assert whole == _SOURCE_MODULE.encode(key)  # type: ignore[attr-defined]
    assert fingerprint64(key) == xxhash.xxh3_64_intdigest(whole)
    assert fingerprint128(key) == xxhash.xxh3_128_intdigest(whole)
    assert fingerprint64(key) == _SOURCE_MODULE.fingerprint64(key)  # type: ignore[attr-defined]
