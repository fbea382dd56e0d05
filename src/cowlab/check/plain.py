"""The ghost values a frontier entry carries beside its vector (the promise tracker's
spec, program counters, budgets) as JSON, for checkpoints.

Decoding builds only plain values (int, str, bool, None, tuples, frozensets) and the
record types allow-listed in ``RECORDS``, so loading a checkpoint runs no code of the
file's choosing, as unpickling would.
"""

from __future__ import annotations

from typing import Any

from cowlab.invariants.spec import RefSpec, Spec

#: the only record types a checkpoint may name
RECORDS: dict[str, type] = {"Spec": Spec, "RefSpec": RefSpec}


class PlainError(ValueError):
    """A value that is not plain data (on encoding) or not what we wrote (on decoding)."""


def to_plain(value: object) -> Any:
    """A JSON-ready form of ``value``: records as {"record": name, "fields": [...]},
    tuples as lists, frozensets as {"set": [...]} (sorted, so the same set always
    encodes the same)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, tuple):
        name = type(value).__name__
        if name in RECORDS and type(value) is RECORDS[name]:
            return {"record": name, "fields": [to_plain(v) for v in value]}
        if type(value) is not tuple:
            raise PlainError(f"{type(value).__qualname__} is not a checkpoint record")
        return [to_plain(v) for v in value]
    if isinstance(value, frozenset):
        return {"set": sorted((to_plain(v) for v in value), key=repr)}
    raise PlainError(f"{type(value).__qualname__} cannot be written to a checkpoint")


def from_plain(data: Any) -> object:
    """The value ``to_plain`` encoded."""
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if isinstance(data, list):
        return tuple(from_plain(v) for v in data)
    if isinstance(data, dict):
        if set(data) == {"set"} and isinstance(data["set"], list):
            return frozenset(from_plain(v) for v in data["set"])
        if set(data) == {"record", "fields"} and isinstance(data["fields"], list):
            cls = RECORDS.get(data["record"])
            if cls is None:
                raise PlainError(f"unknown record type {data['record']!r}")
            try:
                return cls(*(from_plain(v) for v in data["fields"]))
            except TypeError as exc:
                raise PlainError(f"record {data['record']}: {exc}") from None
    raise PlainError(f"unexpected value {str(data)[:60]!r}")
