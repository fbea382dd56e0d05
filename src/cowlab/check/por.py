"""Partial-order reduction for threads of processes that share nothing.

At a state where some thread T is the only actor that can ever touch its process's
memory -- no page or swap slot of T's process is reachable from another process or
held by another process's reference, no sibling thread has work left, and no
background budget that could touch it remains (scan, move, drain, reclaim, DMA) --
T's enabled transitions commute with everything else that can happen, now and
later.  Expanding only T's transitions (an ample set) then reaches every verdict
the full search reaches (conditions C0-C2 of Peled's ample sets; C3, the cycle
proviso, is enforced by the search: an ample set whose successors are all known is
replaced by the full expansion).
"""

from __future__ import annotations

from cowlab.check.model import CheckModel, CheckState, Transition
from cowlab.model import KSWAPD, Machine, MigrationEntry, PresentPte, SwapEntry


def _reach(m: Machine, pid: int) -> tuple[set[int], set[int]]:
    """pfns and swap slots process ``pid`` reaches (mappings and its references)."""
    pfns: set[int] = set()
    slots: set[int] = set()
    for _, pte in m.processes[pid].ptes:
        if type(pte) is PresentPte or type(pte) is MigrationEntry:
            if pte.pfn:
                pfns.add(pte.pfn)
        elif type(pte) is SwapEntry:
            slots.add(pte.slot)
            value = m.swap[pte.slot]
            if value is not None and value.cache >= 0:
                pfns.add(value.cache)
    for ref in m.refs:
        if ref.pid == pid and ref.pfn:
            pfns.add(ref.pfn)
    return pfns, slots


def ample(model: CheckModel, s: CheckState, enabled: list[Transition]) -> list[Transition] | None:
    """T's transitions if some thread T qualifies (see module doc), else None."""
    if any(s.budgets):
        return None
    m = s.machine
    pcs = dict(s.pcs)
    kswapd_busy = any(t.name == KSWAPD and t.stack for t in m.threads)
    if kswapd_busy:
        return None
    by_actor: dict[str, list[Transition]] = {}
    for t in enabled:
        if t.kind != "thread":
            return None
        by_actor.setdefault(t.actor, []).append(t)
    if len(by_actor) < 2:
        return None
    for actor, mine in by_actor.items():
        thread = next(t for t in m.threads if t.name == actor)
        pid = thread.pid
        siblings_idle = all(
            not other.stack and pcs.get(other.name, 0) >= len(model.programs.get(other.name, ()))
            for other in m.threads if other.pid == pid and other.name != actor
        )
        if not siblings_idle:
            continue
        pfns, slots = _reach(m, pid)
        shared = False
        for other in m.processes:
            if other.pid == pid or not other.alive:
                continue
            op, os_ = _reach(m, other.pid)
            if op & pfns or os_ & slots:
                shared = True
                break
        if not shared:
            return mine
    return None
