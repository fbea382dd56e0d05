"""A search's frontier as two checkpoint sections that load without running code: the
entries as fixed binary records followed by each state's packed vector, and the
objects they share (layouts, specs, program counters, budgets) as JSON.

An entry is (``Packed``, stored index, place): the place is the entry's depth in the
single-process search, its key (an int of 16 bits a level) in a partition of the
parallel one, written as a length and little-endian bytes.  Equal ghost values are written once
and entries refer to them by number, as the frontier itself shares them in memory
(``CheckModel.share``).  Every vector is unpacked once on load and its length
checked against its layout, so a damaged or foreign entry is an error at resume, not a
wrong state later.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from cowlab.check.model import Packed
from cowlab.check.plain import from_plain, to_plain
from cowlab.check.vector_pack import VectorPackError, unpack_vector
from cowlab.model.layout import Bounds, Layout, Symbols

#: stored index, the numbers of its layout, spec, program counters and budgets in the
#: objects section, the length of its compressed vector, then the length of its place
#: (followed by the place's bytes, then the vector)
ENTRY = struct.Struct("<QIIIIIH")

Entry = tuple[Packed, int, int]


class FrontierCodecError(ValueError):
    """A frontier section that is not what ``FrontierWriter`` wrote."""


class FrontierWriter:
    """Encodes the frontier's entries in queue order as chunks of about ``chunk`` bytes
    (``entries``), then the objects they share (``objects``, complete only once every
    entry has been written): a checkpoint streams both to its file."""

    def __init__(self, entries: Iterable[Entry], chunk: int = 1 << 20) -> None:
        self._entries = entries
        self._chunk = chunk
        self._layouts: dict[int, int] = {}
        self._layout_list: list[dict[str, Any]] = []
        self._values: dict[object, int] = {}
        self._value_list: list[Any] = []

    def _value(self, value: object) -> int:
        number = self._values.get(value)
        if number is None:
            number = self._values[value] = len(self._value_list)
            self._value_list.append(to_plain(value))
        return number

    def _layout(self, layout: Layout) -> int:
        number = self._layouts.get(id(layout))
        if number is None:
            number = self._layouts[id(layout)] = len(self._layout_list)
            self._layout_list.append(
                {"bounds": dataclasses.asdict(layout.bounds), "symbols": list(layout.symbols.names())}
            )
        return number

    def entries(self) -> Iterator[bytes]:
        out = bytearray()
        for packed, index, place in self._entries:
            raw = place.to_bytes((place.bit_length() + 7) // 8, "little")
            out += ENTRY.pack(
                index,
                self._layout(packed.layout),
                self._value(packed.spec),
                self._value(packed.pcs),
                self._value(packed.budgets),
                len(packed.vector),
                len(raw),
            )
            out += raw
            out += packed.vector
            if len(out) >= self._chunk:
                yield bytes(out)
                out.clear()
        if out:
            yield bytes(out)

    def objects(self) -> Iterator[bytes]:
        yield json.dumps(
            {"layouts": self._layout_list, "values": self._value_list}, separators=(",", ":")
        ).encode()


def decode_frontier(
    entries: bytes | memoryview | Iterable[bytes], objects: bytes | memoryview
) -> Iterator[Entry]:
    """The entries that ``FrontierWriter`` wrote, one by one (from the section's bytes or
    chunks of them), with equal objects shared again."""
    try:
        tables = json.loads(bytes(objects))
        layouts = [_layout(d) for d in tables["layouts"]]
        values = [from_plain(v) for v in tables["values"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise FrontierCodecError(f"frontier objects: {exc}") from None
    chunks = (entries,) if isinstance(entries, (bytes, memoryview)) else entries
    buffer = bytearray()
    at = 0
    for chunk in chunks:
        buffer = buffer[at:] + chunk
        at = 0
        while at + ENTRY.size <= len(buffer):
            index, layout, spec, pcs, budgets, size, width = ENTRY.unpack_from(buffer, at)
            body = at + ENTRY.size
            if body + width + size > len(buffer):
                break  # the rest of this entry is in the next chunk
            place = int.from_bytes(buffer[body : body + width], "little")
            vector = bytes(buffer[body + width : body + width + size])
            at = body + width + size
            yield _entry(vector, index, place, layouts, values, layout, spec, pcs, budgets)
    if at != len(buffer):
        raise FrontierCodecError("the last frontier entry is truncated")


def _entry(
    vector: bytes,
    index: int,
    place: int,
    layouts: list[Layout],
    values: list[object],
    layout: int,
    spec: int,
    pcs: int,
    budgets: int,
) -> Entry:
    try:
        packed = Packed(
            vector,
            layouts[layout],
            values[spec],
            values[pcs],  # type: ignore[arg-type]
            values[budgets],
        )  # type: ignore[arg-type]
        unpack_vector(vector, packed.layout.size)  # it fits its layout
    except (VectorPackError, IndexError) as exc:
        raise FrontierCodecError(f"frontier entry {index}: {exc}") from None
    return packed, index, place


def _layout(data: dict[str, Any]) -> Layout:
    try:
        return Layout(Bounds(**data["bounds"]), Symbols(tuple(data["symbols"])))
    except (TypeError, ValueError) as exc:
        raise FrontierCodecError(f"frontier layout: {exc}") from None
