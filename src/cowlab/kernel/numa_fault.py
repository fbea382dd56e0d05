"""The NUMA hinting fault (mm/memory.c do_numa_page, numa_migrate_prep) and
migrate_misplaced_page (mm/migrate.c).

Versions (docs/reference/kernel-behaviour.md#numa-hinting-fault):
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
from cowlab.kernel.pages import folio_total_mapcount, get_page, put_page
from cowlab.kernel.vma import shared_pte_writable
from cowlab.model import HPAGE_NR, NO_NODE, ZERO_PFN, Frame, Machine
from cowlab.model import state as S
from cowlab.model.pte import (
    PAGE_READONLY,
    pfn_pte,
    pte_dirty,
    pte_mkdirty,
    pte_mkpmd_mapped,
    pte_mksoft_dirty,
    pte_mkwrite,
    pte_pfn,
    pte_pmd_mapped,
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


def numa_restored_pte(pte: pte_t, writable: bool) -> pte_t:
    """pte_modify(old, vm_page_prot) + young (+ write): present again, dirty,
    soft-dirty and a PMD's mark kept."""
    new = pfn_pte(pte_pfn(pte), PAGE_READONLY)
    if pte_dirty(pte):
        new = pte_mkdirty(new)
    if pte_soft_dirty(pte):
        new = pte_mksoft_dirty(new)
    if pte_pmd_mapped(pte):
        new = pte_mkpmd_mapped(new)
    return pte_mkwrite(new) if writable else new


def numa_writable(c: Ctx, m: Machine, loc: FaultLocals, pte: pte_t, fn: str) -> bool:
    """Whether the hinting fault may map the entry writable again: savedwrite up to
    v6.2, then can_change_pte_writable()/can_change_pmd_writable().  A shared
    mapping's vm_page_prot is writable unless it wants write notification; then a
    dirty PTE (or, up to v6.2, a saved write bit) may be writable again."""
    vma = vma_at(m, loc.pid, loc.vpn)
    if vma is not None and vma.shared:
        recompute = c.r.numa_recompute_writable
        dirty = pte_dirty(pte) if recompute else c.r.numa_savedwrite and pte_write(pte)
        ok = shared_pte_writable(m, vma, dirty=dirty)
        c.decide(
            fn,
            f"shared mapping -> {'writable' if ok else 'read-only'}",
            "numa_recompute_writable" if recompute else "numa_savedwrite",
        )
        return ok
    if c.r.numa_recompute_writable:
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
            ("can_change_pmd_writable: " if pte_pmd_mapped(pte) else "can_change_pte_writable: ")
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
    writable = numa_writable(c, m, loc, pte, fn)
    if not c.r.numa_delay_map:
        c.decide(fn, "make the PTE present before migrating", "numa_delay_map")
        S.set_pte_at(m, loc.pid, loc.vpn, numa_restored_pte(pte, writable))
    pfn = pte_pfn(pte)
    if S.PageTransCompound(m, pfn):
        if not c.r.numa_migrate_large_folio:
            c.decide(fn, f"pfn {pfn} is a PTE-mapped THP subpage -> not migrated", "numa_migrate_large_folio")
            if c.r.numa_delay_map:
                S.set_pte_at(m, loc.pid, loc.vpn, numa_restored_pte(pte, writable))
            return m, "done"
        pfn = S.compound_head(m, pfn)  # the whole folio migrates
    page_node = S.page_to_nid(m, pfn)
    target = mpol_misplaced(m, ti, pfn)
    task_node = S.task_node(m, ti)
    if target == NO_NODE:
        c.decide(fn, f"page on node {page_node}, task on node {task_node} -> no migration")
        if c.r.numa_delay_map:
            S.set_pte_at(m, loc.pid, loc.vpn, numa_restored_pte(pte, writable))
        return m, "done"
    c.decide(fn, f"page on node {page_node}, task on node {task_node} -> migrate to {target}")
    locals_ = NumaLocals(loc.pid, loc.vpn, pfn, target, pte, writable)
    if not numa_migrate_prep(c, m, ti, Frame("do_numa_page.target_chosen", locals_), fn):
        numa_remap(m, loc.pid, loc.vpn, writable)
        return m, "done"
    return m, "pending"


def numamigrate_isolate_page(c: Ctx, m: Machine, pfn: int) -> bool:
    """Take the page (a THP: its folio) off the LRU for migration; there is no pin
    pre-filter.  From 662aeea7536d until 728be28fae8c a THP mapped more than once is
    refused."""
    if c.r.thp_numa_skip_shared and S.PageTransCompound(m, pfn):
        maps = folio_total_mapcount(m, pfn)
        if maps > 1:
            c.decide(
                "numamigrate_isolate_page",
                f"THP {pfn} mapped {maps} times -> not isolated",
                "thp_numa_skip_shared",
            )
            return False
    _, isolated = isolate_lru_page(c, m, pfn, "numamigrate_isolate_page")
    return isolated


def numa_migrate_prep(c: Ctx, m: Machine, ti: int, frame: Frame, fn: str) -> bool:
    """What the hinting fault does under the page-table lock before it drops it and
    migrates (``frame``): take a reference (numa_migrate_prep), or from ee86814b0562
    isolate the page itself.  False when that isolation refused the page: the caller
    maps the entry again with the writability it computed."""
    loc: NumaLocals = frame.locals  # type: ignore[assignment]
    if not c.r.numa_isolate_under_ptl:
        get_page(m, loc.pfn)
        push(m, ti, frame._replace(holds=(loc.pfn,)))
        return True
    if not numamigrate_isolate_page(c, m, loc.pfn):
        c.decide(
            fn,
            "isolation refused under the PTL -> map again " + ("writable" if loc.writable else "read-only"),
            "numa_isolate_under_ptl",
        )
        return False
    push(m, ti, frame)
    return True


def numa_isolate_and_migrate(c: Ctx, m: Machine, ti: int, frame: Frame, done: str) -> Machine:
    """With the lock dropped: isolate the page (unless that was done under the lock)
    and migrate it, continuing at the stage ``done``."""
    loc: NumaLocals = frame.locals  # type: ignore[assignment]
    if not c.r.numa_isolate_under_ptl:
        isolated = numamigrate_isolate_page(c, m, loc.pfn)
        put_page(c, m, loc.pfn)  # the numa_migrate_prep reference
        if not isolated:
            return goto(m, ti, done, holds=(), result="failed")
    m = goto(m, ti, done, holds=())
    return push(m, ti, migrate_frame(loc.pfn, loc.target))


@stage("do_numa_page.target_chosen")
def migrate_misplaced_page(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Isolate the page from the LRU (no pin pre-filter for small pages) and migrate."""
    return numa_isolate_and_migrate(c, m, ti, frame, "do_numa_page.migrate_done")


def numa_remap(m: Machine, pid: int, vpn: int, writable: bool) -> None:
    """Map the PROT_NONE entry at ``vpn`` again (a PMD: all its entries): pte_modify to
    vm_page_prot, young, and writable if ``writable``."""
    first = S.pte_at(m, pid, vpn)
    vpns = range(vpn, vpn + HPAGE_NR) if pte_pmd_mapped(first) else (vpn,)
    for key in vpns:
        S.set_pte_at(m, pid, key, numa_restored_pte(S.pte_at(m, pid, key), writable))


@stage("do_numa_page.migrate_done")
def numa_migrate_done(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """After migration: done if it moved; else restore the PTE (the PMD) if nobody
    changed it."""
    loc: NumaLocals = frame.locals  # type: ignore[assignment]
    huge = pte_pmd_mapped(loc.orig_pte)
    fn, what = ("do_huge_pmd_numa_page", "PMD") if huge else ("do_numa_page", "PTE")
    # the PMD path restores this way from c5b5a3dd2c1f, the PTE path from b99a342d4f11
    era = "thp_numa_migrate_pages" if huge else "numa_delay_map"
    if frame.result == "migrated":
        c.note(fn, "THP migrated" if huge else "page migrated")
        return pop(m, ti, "done")
    if not c.r.numa_delay_map:  # a PMD never gets here so early (thp_numa_migrate_pages)
        c.decide(fn, "migration failed; the PTE was already made present", "numa_delay_map")
        return pop(m, ti, "done")
    current = S.pte_at(m, loc.pid, loc.vpn)
    if current != loc.orig_pte:
        c.decide(fn, f"migration failed and the {what} changed meanwhile -> leave it", era)
        return pop(m, ti, "done")
    writable = loc.writable and not c.r.numa_recompute_writable
    if c.r.numa_recompute_writable and loc.writable:
        c.decide(fn, "lock was dropped: writable forced off -> remap read-only", "numa_recompute_writable")
    else:
        c.decide(
            fn,
            f"migration failed -> restore the {what} {'writable' if writable else 'read-only'}",
            era,
        )
    numa_remap(m, loc.pid, loc.vpn, writable)
    return pop(m, ti, "done")


#: the THP path returns to the same code (mm/huge_memory.c do_huge_pmd_numa_page's
#: out_map, from c5b5a3dd2c1f)
stage("do_huge_pmd_numa_page.migrate_done")(numa_migrate_done)
