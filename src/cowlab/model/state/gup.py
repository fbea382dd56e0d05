"""GUP references held outside the page tables (device pins, pipe buffers) in the
compact state.
"""

from __future__ import annotations

from collections.abc import Iterator

from cowlab.model.layout import (
    R_HOLDER,
    R_KIND,
    R_LONGTERM,
    R_NAME,
    R_PFN,
    R_PID,
    R_REFS,
    R_VPN,
    R_WRITE,
    REF_WORDS,
    LayoutOverflowError,
)
from cowlab.model.state.machine import FlatMachine

# --- GUP references held outside the page tables ---------------------------------------

#: reference kinds and holders as stored
REF_NONE, REF_PIN, REF_GET = 0, 1, 2


def ref_in_use(m: FlatMachine, index: int) -> bool:
    return m.v[m.L.ref(index) + R_KIND] != REF_NONE


def refs_in_use(m: FlatMachine) -> Iterator[int]:
    """The indices of the references held, in entry order."""
    for i in range(m.L.bounds.refs):
        if m.v[m.L.ref(i) + R_KIND] != REF_NONE:
            yield i


def ref_fields(m: FlatMachine, index: int) -> tuple[int, ...]:
    """(name, kind, holder, pid, vpn, pfn, write, longterm, refs) as stored."""
    base = m.L.ref(index)
    return tuple(m.vector[base : base + REF_WORDS])


def ref_pfn(m: FlatMachine, index: int) -> int:
    return m.v[m.L.ref(index) + R_PFN]


def set_ref_pfn(m: FlatMachine, index: int, pfn: int) -> None:
    m.v[m.L.ref(index) + R_PFN] = pfn


def ref_name(m: FlatMachine, index: int) -> str:
    return m.L.symbols.name(m.v[m.L.ref(index) + R_NAME])


def ref_holder(m: FlatMachine, index: int) -> str:
    """Who holds the reference: a device, a pipe, ... (its holder's name)."""
    return m.L.symbols.name(m.v[m.L.ref(index) + R_HOLDER])


def ref_pid(m: FlatMachine, index: int) -> int:
    """The process whose page the reference was taken on."""
    return m.v[m.L.ref(index) + R_PID]


def ref_write(m: FlatMachine, index: int) -> bool:
    """FOLL_WRITE: the reference was taken for writing."""
    return bool(m.v[m.L.ref(index) + R_WRITE])


def ref_longterm(m: FlatMachine, index: int) -> bool:
    """FOLL_LONGTERM: the reference may be held indefinitely (a device's buffer)."""
    return bool(m.v[m.L.ref(index) + R_LONGTERM])


def ref_named(m: FlatMachine, name: str) -> int:
    """The index of the reference called ``name``, or -1."""
    sym = m.L.symbols.intern(name)
    for i in range(m.L.bounds.refs):
        base = m.L.ref(i)
        if m.v[base + R_KIND] != REF_NONE and m.v[base + R_NAME] == sym:
            return i
    return -1


def add_ref(
    m: FlatMachine,
    *,
    name: str,
    kind: int,
    holder: str,
    pid: int,
    vpn: int,
    pfn: int,
    write: bool,
    longterm: bool,
    refs: int,
) -> int:
    """Record a reference in the first free entry; returns its index."""
    for i in range(m.L.bounds.refs):
        base = m.L.ref(i)
        if m.v[base + R_KIND] == REF_NONE:
            sym = m.L.symbols.intern
            values = (sym(name), kind, sym(holder), pid, vpn, pfn, int(write), int(longterm), refs)
            for j, value in enumerate(values):
                m.v[base + j] = value
            return i
    raise LayoutOverflowError("refs", m.L.bounds.refs, f"reference {name!r}")


def drop_ref(m: FlatMachine, index: int) -> None:
    base = m.L.ref(index)
    for i in range(REF_WORDS):
        m.v[base + i] = 0


def remove_ref(m: FlatMachine, index: int) -> None:
    """Drop a reference and move later ones down one entry (they stay in the order taken)."""
    last = m.L.bounds.refs - 1
    for i in range(index, last):
        m.v[m.L.ref(i) : m.L.ref(i) + REF_WORDS] = m.v[m.L.ref(i + 1) : m.L.ref(i + 1) + REF_WORDS]
    drop_ref(m, last)


# these two constants are used only by views; the names say what the fields hold
REF_FIELD_NAMES = ("name", "kind", "holder", "pid", "vpn", "pfn", "write", "longterm", "refs")
assert tuple(range(REF_WORDS)) == (R_NAME, R_KIND, R_HOLDER, R_PID, R_VPN, R_PFN, R_WRITE, R_LONGTERM, R_REFS)
