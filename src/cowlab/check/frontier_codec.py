"""A search's frontier as two checkpoint sections that load without running code: the
entries as fixed binary records followed by each state's packed vector, and the
objects they share (layouts, specs, program counters, budgets) as JSON.

An entry is (``Packed``, stored index, depth).  Equal ghost values are written once
and entries refer to them by number, as the frontier itself shares them in memory
(``CheckModel._share``).  Every vector is unpacked once on load and its length
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

#: stored index, depth, then the numbers of its layout, spec, program counters and
#: budgets in the objects section, then the length of its compressed vector
ENTRY = struct.Struct("<QIIIIII")

Entry = tuple[Packed, int, int]


class FrontierCodecError(ValueError):
    """A frontier section that is not what ``encode_frontier`` wrote."""


def encode_frontier(entries: Iterable[Entry]) -> tuple[bytes, bytes]:
    """(entries section, objects section) of the frontier's entries in queue order."""
    layouts: dict[int, int] = {}
    layout_list: list[dict[str, Any]] = []
    values: dict[object, int] = {}
    value_list: list[Any] = []

    def value_number(value: object) -> int:
        number = values.get(value)
        if number is None:
            number = values[value] = len(value_list)
            value_list.append(to_plain(value))
        return number

    out = bytearray()
    for packed, index, depth in entries:
        layout = packed.layout
        number = layouts.get(id(layout))
        if number is None:
            number = layouts[id(layout)] = len(layout_list)
            layout_list.append({"bounds": dataclasses.asdict(layout.bounds),
                                "symbols": list(layout.symbols.names())})
        out += ENTRY.pack(index, depth, number, value_number(packed.spec),
                          value_number(packed.pcs), value_number(packed.budgets),
                          len(packed.vector))
        out += packed.vector
    objects = json.dumps({"layouts": layout_list, "values": value_list},
                         separators=(",", ":")).encode()
    return bytes(out), objects


def decode_frontier(entries: bytes | memoryview, objects: bytes | memoryview) -> list[Entry]:
    """The entries ``encode_frontier`` wrote, with equal objects shared again."""
    try:
        tables = json.loads(bytes(objects))
        layouts = [_layout(d) for d in tables["layouts"]]
        values = [from_plain(v) for v in tables["values"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise FrontierCodecError(f"frontier objects: {exc}") from None
    return list(_entries(memoryview(entries), layouts, values))


def _entries(data: memoryview, layouts: list[Layout], values: list[object]) -> Iterator[Entry]:
    at = 0
    while at < len(data):
        if at + ENTRY.size > len(data):
            raise FrontierCodecError(f"frontier entry at byte {at} is truncated")
        index, depth, layout, spec, pcs, budgets, size = ENTRY.unpack_from(data, at)
        at += ENTRY.size
        vector = bytes(data[at:at + size])
        at += size
        if len(vector) != size:
            raise FrontierCodecError(f"frontier entry {index} is truncated")
        try:
            packed = Packed(vector, layouts[layout], values[spec], values[pcs],  # type: ignore[arg-type]
                            values[budgets])  # type: ignore[arg-type]
            unpack_vector(vector, packed.layout.size)  # it fits its layout
        except (VectorPackError, IndexError) as exc:
            raise FrontierCodecError(f"frontier entry {index}: {exc}") from None
        yield packed, index, depth


def _layout(data: dict[str, Any]) -> Layout:
    try:
        return Layout(Bounds(**data["bounds"]), Symbols(tuple(data["symbols"])))
    except (TypeError, ValueError) as exc:
        raise FrontierCodecError(f"frontier layout: {exc}") from None

