"""Where each held thread stopped, in the model and in the kernel (issue 15).

A verdict can agree while the interleaving differs: the model may stop a thread at a
stage the kernel's stop is not placed on for that path, or a thread may wait on a lock
the model does not know.  For each step with ``until:`` (not a ``resume``: those the
instrumented program runs to completion) both sides say one of: ``held`` (stopped at
the stage), ``ran on`` (finished its step without reaching it), or, on the kernel only,
``waited elsewhere`` (neither, within the controller's patience: on a lock a held
thread holds).  The kernel's come from the program's ``#`` lines (c_stops.py), the
model's from its ``stop`` notes (engine/run.py).
"""

from __future__ import annotations

import re

from cowlab.engine.run import RunResult
from cowlab.model.events import Note
from cowlab.scenario.actions import Resume

HELD, RAN_ON, ELSEWHERE = "held", "ran on", "waited elsewhere"
_KERNEL = (
    (re.compile(r"^# (\S+) is held at (\S+)$"), HELD),
    (re.compile(r"^# (\S+) finished without reaching (\S+) on this kernel$"), RAN_ON),
    (re.compile(r"^# (\S+) neither reached (\S+) nor returned"), ELSEWHERE),
)
_MODEL = (
    (re.compile(r"^(\S+) stopped at (\S+)"), HELD),
    (re.compile(r"^(\S+) finished without reaching (\S+) on this kernel$"), RAN_ON),
)


def _outcome(thread: str, stage: str, how: str) -> str:
    return f"{thread} at {stage}: {how}"


def kernel_stops(text: str) -> tuple[str, ...]:
    """``T1 at migrate.unmapped: held`` for each stop line of a program's output."""
    out = []
    for line in text.splitlines():
        for pattern, how in _KERNEL:
            m = pattern.match(line.strip())
            if m:
                out.append(_outcome(m[1], m[2], how))
                break
    return tuple(out)


def model_stops(result: RunResult) -> tuple[str, ...]:
    """The same for the model's replay: its stop notes, resumes left out."""
    out = []
    for record in result.steps:
        if type(record.step.action) is Resume:
            continue
        for event in record.events:
            if not (isinstance(event, Note) and event.fn == "stop"):
                continue
            for pattern, how in _MODEL:
                m = pattern.match(event.text)
                if m:
                    out.append(_outcome(m[1], m[2], how))
                    break
    return tuple(out)


def reached_steps(result: RunResult) -> frozenset[int]:
    """The steps whose thread the model stopped at its ``until:`` stage (not resumes):
    an instrumented program for that kernel defers what their calls do to the resume."""
    return frozenset(
        i
        for i, record in enumerate(result.steps)
        if type(record.step.action) is not Resume
        and record.step.until is not None
        and record.stopped_at == record.step.until
    )
