"""Partial-order reduction for threads of processes that share nothing.

At a state where some thread T is the only actor that can ever touch its process's
memory (see ``ample`` for the conditions), T's enabled transitions (its steps, its
scans, its moves) commute with everything else that can happen, now and later.
Expanding only those (an ample set) then reaches every verdict
the full search reaches (conditions C0-C2 of Peled's ample sets; C3, the cycle
proviso, is enforced by the search: an ample set none of whose successors is new is
replaced by the full expansion).  Breadth-first, "new" means not among the states of
the current depth or less (the level proviso).  It is sound by the usual argument: a
transition an ample set leaves out stays enabled along ample steps (C1), and following
the ample successor one level deeper each time must reach a fully expanded state, the
depth being bounded.  Unlike "not visited yet", it does not depend on the order in
which a level is expanded, so one process and any number of workers reduce alike
(provisos stated on the open and closed sets of a search: Bošnački, Leue and Lluch
Lafuente, "Partial-order reduction for general state exploring algorithms", STTT
11(1), 2009).
"""

from __future__ import annotations

from cowlab.check.model import (
    DMA_READ,
    DMA_WRITE,
    DRAIN,
    RECLAIM,
    SCAN,
    CheckModel,
    CheckState,
    Transition,
)
from cowlab.model import KSWAPD, Machine
from cowlab.model.pte import (
    is_swap_entry,
    pfn_swap_entry_to_pfn,
    pte_pfn,
    pte_present,
    pte_to_swp_entry,
    swp_offset,
)


def _reach(m: Machine, pid: int) -> tuple[set[int], set[int]]:
    """pfns and swap slots process ``pid`` reaches (mappings and its references)."""
    pfns: set[int] = set()
    slots: set[int] = set()
    for _, pte in m.processes[pid].ptes:
        if is_swap_entry(pte):
            slot = swp_offset(pte_to_swp_entry(pte))
            slots.add(slot)
            value = m.swap[slot]
            if value is not None and value.cache >= 0:
                pfns.add(value.cache)
        else:
            pfn = pte_pfn(pte) if pte_present(pte) else pfn_swap_entry_to_pfn(pte)
            if pfn:
                pfns.add(pfn)
    for ref in m.refs:
        if ref.pid == pid and ref.pfn:
            pfns.add(ref.pfn)
    return pfns, slots


def _touches(t: Transition, actor: str) -> bool:
    """Is ``t`` one of the transitions that act on ``actor``'s process through ``actor``:
    its own steps, its NUMA scans, its moves between nodes?"""
    return t.actor == actor and t.kind in ("thread", "numa_scan", "move")


def ample(model: CheckModel, s: CheckState, enabled: list[Transition]) -> list[Transition] | None:
    """The transitions of one thread T whose process nobody else can touch, if any:

    - no other process reaches a page or swap slot T's process reaches;
    - T's siblings are idle with nothing left to do, and cannot scan (no scan budget);
    - kswapd is idle with no reclaim budget, and no LRU drain remains (a drain does not
      commute with an allocation);
    - no DMA budget remains, or T's process holds no device reference.
    Token and pfn numbering may then differ between the orders the reduction skips,
    which changes no verdict.
    """
    m = s.machine
    budgets = s.budgets
    if budgets[RECLAIM] or budgets[DRAIN]:
        return None
    if any(t.name == KSWAPD and t.stack for t in m.threads):
        return None
    actors = {t.actor for t in enabled if t.kind == "thread"}
    if len(actors) < 2 and len(enabled) == len([t for t in enabled if t.kind == "thread"]):
        return None
    pcs = dict(s.pcs)
    best: list[Transition] | None = None
    for actor in sorted(actors):
        thread = next(t for t in m.threads if t.name == actor)
        pid = thread.pid
        siblings = [o for o in m.threads if o.pid == pid and o.name != actor]
        if siblings and budgets[SCAN]:
            continue
        if any(o.stack or pcs.get(o.name, 0) < len(model.programs.get(o.name, ())) for o in siblings):
            continue
        if (budgets[DMA_WRITE] or budgets[DMA_READ]) and any(
            r.pid == pid and r.holder == "device" for r in m.refs
        ):
            continue
        pfns, slots = _reach(m, pid)
        if any(
            _reach(m, o.pid)[0] & pfns or _reach(m, o.pid)[1] & slots
            for o in m.processes
            if o.pid != pid and o.alive
        ):
            continue
        mine = [t for t in enabled if _touches(t, actor)]
        if len(mine) < len(enabled) and (best is None or len(mine) < len(best)):
            best = mine
    return best
