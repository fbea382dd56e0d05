"""A counterexample as a scenario: the checker's transitions grouped into steps that
``cowlab run`` replays to the same states (``until``/``nth`` where an operation was
interrupted, ``resume`` where it went on, ``choose`` where the kernel chose)."""

from __future__ import annotations

from dataclasses import replace

from cowlab.check.model import CheckModel, CheckState, Transition
from cowlab.engine.boot import thread_index
from cowlab.model import Machine
from cowlab.scenario import DmaRead, DmaWrite, LruDrain, Move, NumaScan, Reclaim, Resume, Scenario
from cowlab.scenario.spec import DEVICE, KERNEL, Step


def _addr(m: Machine, pid: int, vpn: int) -> str:
    proc = m.processes[pid]
    vma = proc.vma_at(vpn)
    assert vma is not None
    return f"{proc.name}:{vma.name}[{vpn - vma.start}]"


def to_scenario(model: CheckModel, transitions: list[Transition], name: str) -> Scenario:
    """The scenario whose replay performs exactly ``transitions``."""
    state: CheckState = model.initial()
    steps: list[Step] = []
    # the open step of each actor: (index in steps, stage arrivals so far)
    open_step: dict[str, int] = {}
    arrivals: dict[str, dict[str, int]] = {}
    # actor -> its step whose operation has not finished (still stopped at the end?)
    unfinished: dict[str, int] = {}
    for t in transitions:
        before = state.machine
        pcs_before = dict(state.pcs)
        state, _, _ = model.step(state, t)
        m = state.machine
        if t.kind in ("thread", "reclaim"):
            actor = t.actor
            ti_before = thread_index(before, actor)
            busy_before = ti_before is not None and bool(before.threads[ti_before].stack)
            continuing = (
                busy_before and actor in open_step and open_step[actor] == len(steps) - 1 and not t.choice
            )
            if not continuing:
                if busy_before:
                    action = Resume()
                elif t.kind == "reclaim":
                    pid, vpn = t.arg  # type: ignore[misc]
                    action = Reclaim(_addr(before, pid, vpn))
                else:
                    action = model.programs[actor][pcs_before[actor]].action
                steps.append(Step(actor, action, choose=t.choice or None))
                open_step[actor] = len(steps) - 1
                arrivals[actor] = {}
            ti = thread_index(m, actor)
            if ti is None or not m.threads[ti].stack:
                open_step.pop(actor, None)
                unfinished.pop(actor, None)
                continue
            unfinished[actor] = open_step[actor]
            stage = m.threads[ti].stack[-1].stage
            arrivals[actor][stage] = arrivals[actor].get(stage, 0) + 1
            index = open_step[actor]
            steps[index] = replace(steps[index], until=stage, nth=arrivals[actor][stage])
            continue
        open_step.clear()
        steps.append(_outside_step(before, t))
    # steps that ran to completion need no until; one still stopped when the trace ends
    # keeps it, or the replay would run its operation on past the violation
    still_stopped = set(unfinished.values())
    finished = []
    for i, step in enumerate(steps):
        if step.until is not None and not _stopped_after(steps, i) and i not in still_stopped:
            step = replace(step, until=None, nth=1)
        finished.append(step)
    base = model.config.scenario
    return replace(
        base,
        name=name,
        steps=tuple(finished),
        source=None,
        description=f"counterexample found by cowlab check in {base.name}",
    )


def _stopped_after(steps: list[Step], i: int) -> bool:
    """Does a later resume of the same actor continue step ``i``?"""
    actor = steps[i].actor
    for later in steps[i + 1 :]:
        if later.actor == actor:
            return type(later.action) is Resume
    return False


def _outside_step(m: Machine, t: Transition) -> Step:
    if t.kind == "numa_scan":
        return Step(t.actor, NumaScan())
    if t.kind == "move":
        assert isinstance(t.arg, int)
        return Step(KERNEL, Move(t.actor, t.arg))
    if t.kind == "lru_drain":
        return Step(KERNEL, LruDrain())
    if t.kind == "dma_write":
        return Step(DEVICE, DmaWrite(t.actor))
    if t.kind == "dma_read":
        return Step(DEVICE, DmaRead(t.actor))
    raise ValueError(f"unknown transition {t}")
