"""The NUMA hinting fault (mm/memory.c do_numa_page, numa_migrate_prep) and
migrate_misplaced_page (mm/migrate.c).

Versions (kernel-semantics.md §2.5):
- <= v5.12: make the PTE present (writable iff savedwrite) first, then migrate.
- b99a342d4f11 "NUMA balancing: reduce TLB flush via delaying mapping on hint page
  fault" (v5.13): migrate while the PTE stays PROT_NONE; on failure re-take the lock
  and restore only if the PTE is unchanged.
- 6a56ccbcf6c6 "mm/autonuma: use can_change_(pte|pmd)_writable() to replace
  savedwrite" (v6.2): writability is recomputed (exclusive anon page) and forced
  off once the lock is dropped, so a failed migration remaps read-only.
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import goto, pop, push, stage
from cowlab.kernel.lru import isolate_lru_page
from cowlab.kernel.memory import FaultLocals
from cowlab.kernel.mempolicy import mpol_misplaced
from cowlab.kernel.migrate import migrate_frame
from cowlab.kernel.pages import get_page, put_page
from cowlab.model import NO_NODE, ZERO_PFN, Frame, Machine
from cowlab.model import state as S
from cowlab.model.pte import (
    PAGE_READONLY,
    pfn_pte,
    pte_dirty,
    pte_mkdirty,
    pte_mksoft_dirty,
    pte_mkwrite,
    pte_pfn,
    pte_soft_dirty,
    pte_t,
    pte_write,
)
from cowlab.model.state.convert import vma_at


class NumaLocals(NamedTuple):
    pid: int
    vpn: int
    pfn: int
    target: int
    #: the PROT_NONE PTE the fault found (vmf->orig_pte)
    orig_pte: pte_t
    writable: bool


def _restored(pte: pte_t, writable: bool) -> pte_t:
    """pte_modify(old, vm_page_prot) + young (+ write): present again, dirty and
    soft-dirty kept."""
    new = pfn_pte(pte_pfn(pte), PAGE_READONLY)
    if pte_dirty(pte):
        new = pte_mkdirty(new)
    if pte_soft_dirty(pte):
        new = pte_mksoft_dirty(new)
    return pte_mkwrite(new) if writable else new


def _writable(c: Ctx, m: Machine, loc: FaultLocals, pte: pte_t) -> bool:
    fn = "do_numa_page"
    if c.r.numa_recompute_writable:
        vma = vma_at(m, loc.pid, loc.vpn)
        pfn = pte_pfn(pte)
        page = pfn != ZERO_PFN and S.page_in_use(m, pfn)
        ok = bool(
            vma
            and vma.writable
            and page
            and S.PageAnon(m, pfn)
            and S.PageAnonExclusive(m, pfn)
            and not (vma.soft_dirty_tracking and not pte_soft_dirty(pte))
        )
        c.decide(
            fn,
            "can_change_pte_writable: "
            + ("exclusive anon page -> writable" if ok else "not exclusive -> read-only"),
            "numa_recompute_writable",
        )
        return ok
    if c.r.numa_savedwrite:
        was = pte_write(pte)
        c.decide(fn, f"savedwrite {'set' if was else 'clear'}", "numa_savedwrite")
        return was
    return False


def do_numa_page(c: Ctx, m: Machine, ti: int, loc: FaultLocals, pte: pte_t) -> tuple[Machine, str]:
    """Hinting fault on a PROT_NONE PTE: pick a target node and start migration."""
    fn = "do_numa_page"
    writable = _writable(c, m, loc, pte)
    if not c.r.numa_delay_map:
        c.decide(fn, "make the PTE present before migrating", "numa_delay_map")
        S.set_pte_at(m, loc.pid, loc.vpn, _restored(pte, writable))
    pfn = pte_pfn(pte)
    page_node = S.page_to_nid(m, pfn)
    target = mpol_misplaced(m, ti, pfn)
    task_node = S.task_node(m, ti)
    if target == NO_NODE:
        c.decide(fn, f"page on node {page_node}, task on node {task_node} -> no migration")
        if c.r.numa_delay_map:
            S.set_pte_at(m, loc.pid, loc.vpn, _restored(pte, writable))
        return m, "done"
    c.decide(fn, f"page on node {page_node}, task on node {task_node} -> migrate to {target}")
    get_page(m, pfn)  # numa_migrate_prep
    locals_ = NumaLocals(loc.pid, loc.vpn, pfn, target, pte, writable)
    return push(m, ti, Frame("do_numa_page.target_chosen", locals_, holds=(pfn,))), "pending"


@stage("do_numa_page.target_chosen")
def migrate_misplaced_page(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Isolate the page from the LRU (no pin pre-filter for small pages) and migrate."""
    loc: NumaLocals = frame.locals  # type: ignore[assignment]
    _, isolated = isolate_lru_page(c, m, loc.pfn, "numamigrate_isolate_page")
    put_page(c, m, loc.pfn)  # the numa_migrate_prep reference
    if not isolated:
        return goto(m, ti, "do_numa_page.migrate_done", holds=(), result="failed")
    m = goto(m, ti, "do_numa_page.migrate_done", holds=())
    return push(m, ti, migrate_frame(loc.pfn, loc.target))


@stage("do_numa_page.migrate_done")
def numa_migrate_done(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """After migration: done if it moved; else restore the PTE if nobody changed it."""
    loc: NumaLocals = frame.locals  # type: ignore[assignment]
    fn = "do_numa_page"
    if frame.result == "migrated":
        c.note(fn, "page migrated")
        return pop(m, ti, "done")
    if not c.r.numa_delay_map:
        c.decide(fn, "migration failed; the PTE was already made present", "numa_delay_map")
        return pop(m, ti, "done")
    current = S.pte_at(m, loc.pid, loc.vpn)
    if current != loc.orig_pte:
        c.decide(fn, "migration failed and the PTE changed meanwhile -> leave it", "numa_delay_map")
        return pop(m, ti, "done")
    writable = loc.writable and not c.r.numa_recompute_writable
    if c.r.numa_recompute_writable and loc.writable:
        c.decide(fn, "lock was dropped: writable forced off -> remap read-only", "numa_recompute_writable")
    else:
        c.decide(
            fn,
            f"migration failed -> restore the PTE {'writable' if writable else 'read-only'}",
            "numa_delay_map",
        )
    S.set_pte_at(m, loc.pid, loc.vpn, _restored(loc.orig_pte, writable))
    return pop(m, ti, "done")
