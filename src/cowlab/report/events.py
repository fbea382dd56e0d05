"""One line of text per event."""

from __future__ import annotations

from cowlab.model import Machine
from cowlab.model.events import (
    CallReturned,
    Decision,
    DeviceLoad,
    DeviceStore,
    Event,
    Forked,
    Load,
    Mapped,
    Note,
    RefDropped,
    RefTaken,
    Store,
    Zapped,
)


def _pname(m: Machine, pid: int) -> str:
    return m.processes[pid].name if 0 <= pid < len(m.processes) else f"pid {pid}"


def describe(event: Event, m: Machine) -> str | None:
    """Text for an event (None for bookkeeping a reader does not need)."""
    kind = type(event)
    if kind is Decision or kind is Note:
        return str(event)
    if kind is Load:
        return f"{_pname(m, event.pid)} reads #{event.token} at vpn {event.vpn:#x}"
    if kind is Store:
        return f"{_pname(m, event.pid)} writes #{event.token} at vpn {event.vpn:#x} (pfn {event.pfn})"
    if kind is DeviceStore:
        return f"device writes #{event.token} through {event.name}"
    if kind is DeviceLoad:
        return f"{event.name} reads #{event.token}"
    if kind is CallReturned:
        result = "0" if event.result == "done" else f"-{event.result.upper()}"
        wanted = {"ok": "to succeed", "refused": "to be refused"}.get(event.expect)
        expected = f", expected {wanted}" if wanted else ""
        return f"{_pname(m, event.pid)}: {event.call}({event.name}) returns {result}{expected}"
    if kind in (RefTaken, RefDropped, Mapped, Forked, Zapped):
        return None  # the kernel function that caused them already said so
    return str(event)


def event_json(event: Event) -> dict[str, object]:
    kind = type(event)
    if kind is Decision:
        return {
            "type": "decision",
            "fn": event.fn,
            "text": event.text,
            "rule": event.rule,
            "commit": event.cite,
        }
    data: dict[str, object] = {"type": kind.__name__.lower()}
    data.update(event._asdict())
    return data
