"""Continuations: kernel operations as stacks of named stages, one atomic step each.

A stage function runs what the kernel does under one lock and leaves the thread's
stack at the next stage (or pops back to its caller).  A wait function, where a
stage has one, says why the stage cannot run yet (a migration entry to wait for,
a page lock), so that replay and the checker only run enabled steps.
"""

from __future__ import annotations

from collections.abc import Callable

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.model import Frame, Machine
from cowlab.model.state.convert import frame_view, push_frame_record, write_frame
from cowlab.model.state.task import pop_frame

StageFn = Callable[[Ctx, Machine, int, Frame], Machine]
WaitFn = Callable[[Machine, int, Frame], str | None]

STAGES: dict[str, StageFn] = {}
WAITS: dict[str, WaitFn] = {}
#: one line per stage, for `cowlab run --list-stages` and the docs
STAGE_DOCS: dict[str, str] = {}
#: stage -> kernel-internal choices it offers besides the default outcome
STAGE_CHOICES: dict[str, tuple[str, ...]] = {}

#: what each choice means
CHOICES: dict[str, str] = {
    "trylock_fail": "trylock_page() fails: another CPU holds the page lock for a moment",
    "transient_ref": "a transient reference (GUP-fast, a /proc walker) breaks the refcount check",
}


def stage(
    name: str, *, wait: WaitFn | None = None, choices: tuple[str, ...] = ()
) -> Callable[[StageFn], StageFn]:
    """Register a stage function under its stable name, with the wait condition and the
    kernel-internal choices it has."""

    def register(fn: StageFn) -> StageFn:
        if name in STAGES:
            raise ModelBugError(f"stage {name} registered twice")
        STAGES[name] = fn
        STAGE_DOCS[name] = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        if wait is not None:
            WAITS[name] = wait
        if choices:
            STAGE_CHOICES[name] = choices
        return fn

    return register


def top(m: Machine, ti: int) -> Frame:
    """The thread's innermost frame (a record: re-read it after a write)."""
    return frame_view(m, ti)  # type: ignore[arg-type]


def set_top(m: Machine, ti: int, frame: Frame) -> Machine:
    write_frame(m, ti, frame)  # type: ignore[arg-type]
    return m


def goto(m: Machine, ti: int, stage_name: str, **changes: object) -> Machine:
    """Move the top frame to another stage (updating its fields)."""
    return set_top(m, ti, top(m, ti)._replace(stage=stage_name, **changes))


def push(m: Machine, ti: int, frame: Frame) -> Machine:
    push_frame_record(m, ti, frame)  # type: ignore[arg-type]
    return m


def pop(m: Machine, ti: int, result: str = "") -> Machine:
    """Return from the top frame, handing ``result`` to the caller's frame."""
    pop_frame(m, ti, m.L.symbols.intern(result))  # type: ignore[attr-defined]
    return m


def replace_top(m: Machine, ti: int, frame: Frame) -> Machine:
    """Tail call: the top frame becomes ``frame``."""
    return set_top(m, ti, frame)
