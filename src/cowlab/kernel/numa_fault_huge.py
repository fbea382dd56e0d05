"""The NUMA hinting fault on a PROT_NONE PMD (mm/huge_memory.c do_huge_pmd_numa_page)
and the THP migration it starts.

The PMD stays PROT_NONE while the THP migrates, in every release (the PTE path only
learned that in v5.13).  Versions (docs/research/thp-numa.md):

- up to v5.13: migrate_misplaced_transhuge_page() (mm/migrate.c) copies the THP in
  one go.  numamigrate_isolate_page() takes it only if page_count() is 3 (the PMD's
  reference, the fault's and the isolation's), so a pinned or shared THP fails, and
  the failure path maps the PMD again from vm_page_prot: read-only in a private
  mapping, whatever savedwrite said.  On success the copy is mapped dirty, and
  writable if the VMA is.
- c5b5a3dd2c1f "mm: thp: refactor NUMA fault handling" (v5.14): the THP goes through
  migrate_misplaced_page() like a small page: PMD migration entries
  (set_pmd_migration_entry, remove_migration_pmd), the expected-refcount test of
  migrate_pages(), up to ten passes; on failure the fault restores the PMD if it is
  unchanged, writable as do_numa_page decides (savedwrite, then from 6a56ccbcf6c6
  forced off once the lock was dropped).
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import pop, stage
from cowlab.kernel.huge_memory import new_folio, pmd_base
from cowlab.kernel.lru import isolate_lru_page, putback_lru_page
from cowlab.kernel.memory import FaultLocals
from cowlab.kernel.mempolicy import mpol_misplaced
from cowlab.kernel.numa_fault import (
    NumaLocals,
    numa_isolate_and_migrate,
    numa_migrate_prep,
    numa_remap,
    numa_writable,
)
from cowlab.kernel.pages import folio_pages, put_page
from cowlab.model import NO_NODE, Frame, Machine
from cowlab.model import state as S
from cowlab.model.pte import (
    PAGE_READONLY,
    pfn_pte,
    pte_mkdirty,
    pte_mkpmd_mapped,
    pte_mkwrite,
    pte_pfn,
    pte_t,
)
from cowlab.model.state.convert import vma_at


def do_huge_pmd_numa_page(c: Ctx, m: Machine, ti: int, loc: FaultLocals, pte: pte_t) -> tuple[Machine, str]:
    """Hinting fault on a PROT_NONE PMD: pick a target node and start migrating the THP."""
    fn = "do_huge_pmd_numa_page"
    base = pmd_base(loc.vpn)
    orig = S.pte_at(m, loc.pid, base)
    head = pte_pfn(orig)
    writable = numa_writable(c, m, loc, orig, fn)
    target = mpol_misplaced(m, ti, head)
    where = f"THP {head} on node {S.page_to_nid(m, head)}, task on node {S.task_node(m, ti)}"
    if target == NO_NODE:
        c.decide(fn, f"{where} -> no migration, map the PMD again")
        numa_remap(m, loc.pid, base, writable)
        return m, "done"
    if not c.r.thp_numa_migrate_pages and S.PageLocked(m, head):
        c.decide(
            fn,
            f"{where}: THP locked (being migrated) -> wait for the lock, retry the fault",
            "thp_numa_migrate_pages",
        )
        return m, "done"
    c.decide(fn, f"{where} -> migrate to {target}")
    locals_ = NumaLocals(loc.pid, base, head, target, orig, writable)
    if not numa_migrate_prep(c, m, ti, Frame("do_huge_pmd_numa_page.target_chosen", locals_), fn):
        numa_remap(m, loc.pid, base, writable)
        return m, "done"
    return m, "pending"


@stage("do_huge_pmd_numa_page.target_chosen")
def migrate_misplaced_thp(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Migrate the THP: in one go up to v5.13 (migrate_misplaced_transhuge_page), from
    c5b5a3dd2c1f through migrate_misplaced_page() and PMD migration entries."""
    if not c.r.thp_numa_migrate_pages:
        migrate_misplaced_transhuge_page(c, m, frame.locals)  # type: ignore[arg-type]
        return pop(m, ti, "done")
    return numa_isolate_and_migrate(c, m, ti, frame, "do_huge_pmd_numa_page.migrate_done")


def migrate_misplaced_transhuge_page(c: Ctx, m: Machine, loc: NumaLocals) -> Machine:
    """Up to v5.13 (mm/migrate.c): isolate the THP if nothing but its one PMD, the fault
    and the isolation hold it (page_count 3), copy it to the target node and map the
    copy; on failure map the old PMD again from vm_page_prot, without the write bit."""
    fn = "migrate_misplaced_transhuge_page"
    head = loc.pfn
    _, isolated = isolate_lru_page(c, m, head, "numamigrate_isolate_page")
    refcount = S.page_count(m, head)
    if isolated and refcount != 3:
        c.decide(
            "numamigrate_isolate_page",
            f"THP {head}: page_count {refcount} != 3 (its PMD, the fault, the isolation) -> putback",
            "thp_numa_migrate_pages",
        )
        putback_lru_page(c, m, head)
        isolated = False
    if not isolated:
        put_page(c, m, head)  # the fault's reference
        if S.pte_at(m, loc.pid, loc.vpn) == loc.orig_pte:
            numa_remap(m, loc.pid, loc.vpn, False)
            c.decide(
                fn,
                "migration failed -> PMD mapped again from vm_page_prot: read-only"
                + (" (savedwrite lost)" if loc.writable else ""),
                "thp_numa_migrate_pages",
            )
        return m
    old = folio_pages(m, head)
    contents = tuple(S.page_content(m, pfn) for pfn in old)
    new = new_folio(m, loc.target, contents, exclusive=c.r.anon_exclusive)
    vma = vma_at(m, loc.pid, loc.vpn)
    write = vma is not None and vma.writable
    for i, pfn in enumerate(new):
        pte = pte_mkpmd_mapped(pte_mkdirty(pfn_pte(pfn, PAGE_READONLY)))
        S.set_pte_at(m, loc.pid, loc.vpn + i, pte_mkwrite(pte) if write else pte)
    S.compound_mapcount_add(m, head, -1)
    S.SetPageIsolated(m, head, False)
    put_page(c, m, head, 3)  # the PMD's, the fault's and the isolation's references
    c.decide(
        fn,
        f"THP {head} copied to THP {new[0]} on node {loc.target}; PMD dirty"
        + (", writable (VM_WRITE)" if write else ", read-only"),
        "thp_numa_migrate_pages",
    )
    return m
