"""The context every kernel path gets: the rules of this kernel and the event sink."""

from __future__ import annotations

from cowlab.history import Kernel
from cowlab.model.events import Decision, Event, Note


class ModelBugError(RuntimeError):
    """The model reached a state the kernel never could: a bug in cowlab, not a finding."""


class Ctx:
    """Kernel rules (``r``), the step's choice, and where events go.

    ``trace`` off skips building decision and state-change narration (the checker's
    hot path); observations for the promises are always recorded.
    """

    __slots__ = ("choice", "events", "k", "r", "trace")

    def __init__(self, kernel: Kernel, *, trace: bool = True, choice: str = "") -> None:
        self.k = kernel
        self.r = kernel.r
        self.trace = trace
        self.choice = choice
        self.events: list[Event] = []

    def decide(self, fn: str, text: str, rule: str = "") -> None:
        if self.trace:
            self.events.append(Decision(fn, text, rule, self.k.cite(rule) if rule else ""))

    def note(self, fn: str, text: str) -> None:
        if self.trace:
            self.events.append(Note(fn, text))

    def emit(self, event: Event) -> None:
        self.events.append(event)


def vpn_range(lo: int, hi: int) -> str:
    """Narration of the pages [lo, hi): one address for one page."""
    return f"vpn {lo:#x}" if hi - lo == 1 else f"vpns {lo:#x}..{hi - 1:#x}"
