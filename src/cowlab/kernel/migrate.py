"""Page migration (mm/migrate.c, mm/rmap.c try_to_migrate): the misplaced-page path
used by NUMA balancing, one pass per pair of stages.

Each pass locks the page, replaces its mappings by migration entries, checks the
expected refcount, and either moves the page or restores the old mappings.  A page
with extra references (a GUP pin adds 1024) fails every pass: up to
NR_MAX_MIGRATE_PAGES_RETRY passes, then it goes back to the LRU.
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import goto, pop, stage
from cowlab.kernel.lru import putback_lru_page
from cowlab.kernel.pages import get_page, page_add_rmap, page_remove_rmap, put_page
from cowlab.kernel.pgtable import rmap_migration, rmap_present, set_pte
from cowlab.model import NO_SLOT, Frame, Machine, Page
from cowlab.model.pte import (
    PAGE_READONLY,
    is_readable_migration_entry,
    is_writable_migration_entry,
    make_readable_exclusive_migration_entry,
    make_readable_migration_entry,
    make_writable_migration_entry,
    migration_entry_mode,
    pfn_pte,
    pte_mkold,
    pte_mksoft_dirty,
    pte_mkwrite,
    pte_protnone,
    pte_soft_dirty,
    pte_swp_mksoft_dirty,
    pte_swp_soft_dirty,
    pte_to_swp_entry,
    pte_write,
    swp_entry_to_pte,
)

#: migrate_pages() retries -EAGAIN for up to 10 passes (v5.15 mm/migrate.c:
#: ``for (pass = 0; pass < 10 && retry; pass++)``).
NR_MAX_MIGRATE_PAGES_RETRY = 10


class MigrateLocals(NamedTuple):
    pfn: int
    target: int
    npass: int = 0


def migrate_frame(pfn: int, target: int) -> Frame:
    return Frame("migrate.isolated", MigrateLocals(pfn, target))


def try_to_migrate(c: Ctx, m: Machine, pfn: int) -> Machine:
    """Replace every present mapping of ``pfn`` by a migration entry.

    The entry is writable iff pte_write() (true for a savedwrite PROT_NONE PTE on x86);
    from 6c287605fd56 a read-only mapping of an exclusive page gives a
    readable_exclusive entry, and a pinned exclusive page cannot be unmapped at all
    ("migration will fail early").
    """
    fn = "try_to_migrate"
    for pid, vpn, pte in rmap_present(m, pfn):
        page = m.page(pfn)
        exclusive = c.r.anon_exclusive and page.exclusive
        if exclusive and page.maybe_dma_pinned:
            c.decide(
                fn,
                f"pfn {pfn} is PageAnonExclusive and maybe pinned (refcount {page.refcount}): "
                "page_try_share_anon_rmap fails -> keep the PTE",
                "anon_exclusive",
            )
            return m
        if pte_write(pte):
            entry = make_writable_migration_entry(pfn)
            why = "writable (savedwrite)" if pte_protnone(pte) else "writable"
        elif exclusive:
            entry = make_readable_exclusive_migration_entry(pfn)
            why = "read-only, exclusive"
        else:
            entry = make_readable_migration_entry(pfn)
            why = "read-only"
        swp_pte = swp_entry_to_pte(entry)
        if pte_soft_dirty(pte):
            swp_pte = pte_swp_mksoft_dirty(swp_pte)
        m = set_pte(m, pid, vpn, swp_pte)
        m = page_remove_rmap(m, pfn)
        if exclusive:
            m = m.with_page(pfn, m.page(pfn)._replace(exclusive=False))
        m = put_page(c, m, pfn)
        c.decide(fn, f"{m.processes[pid].name} vpn {vpn:#x}: PTE {why} -> "
                 f"{migration_entry_mode(entry)} migration entry")
    return m


def remove_migration_ptes(c: Ctx, m: Machine, old: int, new: int) -> Machine:
    """Turn the migration entries for ``old`` into present PTEs of ``new``.

    The PTE is rebuilt from vm_page_prot (read-only for a private mapping), old and
    clean, and made writable only if the entry was writable and the VMA is VM_WRITE.
    """
    for pid, vpn, old_pte in rmap_migration(m, old):
        entry = pte_to_swp_entry(old_pte)
        vma = m.processes[pid].vma_at(vpn)
        write = is_writable_migration_entry(entry) and vma is not None and vma.writable
        pte = pte_mkold(pfn_pte(new, PAGE_READONLY))
        if pte_swp_soft_dirty(old_pte):
            pte = pte_mksoft_dirty(pte)
        if write:
            pte = pte_mkwrite(pte)
        m = set_pte(m, pid, vpn, pte)
        m = get_page(m, new)
        exclusive = c.r.anon_exclusive and not is_readable_migration_entry(entry)
        m = page_add_rmap(m, new, exclusive=True if exclusive else None)
        c.decide(
            "remove_migration_pte",
            f"{m.processes[pid].name} vpn {vpn:#x}: {migration_entry_mode(entry)} entry -> "
            f"PTE {'writable' if write else 'read-only'} to pfn {new}",
        )
    return m


@stage("migrate.isolated", choices=("trylock_fail",))
def unmap_and_move_unmap(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Lock the isolated page (async: trylock) and unmap it to migration entries."""
    loc: MigrateLocals = frame.locals  # type: ignore[assignment]
    page = m.page(loc.pfn)
    if page.locked or c.choice == "trylock_fail":
        c.decide("unmap_and_move", f"trylock_page(pfn {loc.pfn}) failed -> -EAGAIN")
        return _next_pass(c, m, ti, loc)
    m = m.with_page(loc.pfn, page._replace(locked=True))
    if page.mapcount:
        m = try_to_migrate(c, m, loc.pfn)
    return goto(m, ti, "migrate.unmapped")


@stage("migrate.unmapped", choices=("transient_ref",))
def unmap_and_move_move(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Check the expected refcount, then move the page or restore the old mappings."""
    loc: MigrateLocals = frame.locals  # type: ignore[assignment]
    fn = "migrate_page_move_mapping"
    page = m.page(loc.pfn)
    cached = m.page_cache_owner(loc.pfn) is not None
    expected = 1 + int(page.in_swapcache) + int(cached)
    if page.mapcount:
        c.decide("unmap_and_move", f"pfn {loc.pfn} still mapped -> -EAGAIN")
    elif page.refcount != expected or c.choice == "transient_ref":
        extra = " + a transient reference" if c.choice == "transient_ref" else ""
        c.decide(
            fn,
            f"refcount {page.refcount}{extra} != expected {expected} -> -EAGAIN "
            f"(pass {loc.npass + 1}/{NR_MAX_MIGRATE_PAGES_RETRY})",
        )
    else:
        c.decide(fn, f"refcount {page.refcount} == expected {expected} -> move")
        return _move(c, m, ti, loc)
    m = remove_migration_ptes(c, m, loc.pfn, loc.pfn)
    m = m.with_page(loc.pfn, m.page(loc.pfn)._replace(locked=False))
    return _next_pass(c, m, ti, loc)


def _next_pass(c: Ctx, m: Machine, ti: int, loc: MigrateLocals) -> Machine:
    if loc.npass + 1 < NR_MAX_MIGRATE_PAGES_RETRY:
        return goto(m, ti, "migrate.isolated", locals=loc._replace(npass=loc.npass + 1))
    c.decide(
        "migrate_pages",
        f"pfn {loc.pfn} failed {NR_MAX_MIGRATE_PAGES_RETRY} passes -> putback to the LRU",
    )
    m = putback_lru_page(c, m, loc.pfn)
    return pop(m, ti, "failed")


def _move(c: Ctx, m: Machine, ti: int, loc: MigrateLocals) -> Machine:
    old = m.page(loc.pfn)
    new_page = Page(
        node=loc.target, content=old.content, refcount=1, anon=old.anon,
        lru=True,
    )
    m, new = m.with_new_page(new_page)
    if old.in_swapcache:
        slot = old.swapcache
        value = m.swap[slot]
        assert value is not None
        m = m.with_slot(slot, value._replace(cache=new))
        m = m.with_page(new, m.page(new)._replace(swapcache=slot, refcount=2))
        m = m.with_page(loc.pfn, m.page(loc.pfn)._replace(swapcache=NO_SLOT))
        m = put_page(c, m, loc.pfn)
    owner = m.page_cache_owner(loc.pfn)
    if owner is not None:
        fi, index = owner
        f = m.files[fi]
        files = list(m.files)
        files[fi] = f._replace(pages=(*f.pages[:index], new, *f.pages[index + 1:]))
        m = m._replace(files=tuple(files))
        m = m.with_page(new, m.page(new)._replace(refcount=m.page(new).refcount + 1))
        m = put_page(c, m, loc.pfn)
    c.note("migrate_page", f"pfn {loc.pfn} copied to new pfn {new} on node {loc.target}")
    m = remove_migration_ptes(c, m, loc.pfn, new)
    m = m.with_page(loc.pfn, m.page(loc.pfn)._replace(locked=False, isolated=False))
    m = put_page(c, m, loc.pfn)
    m = put_page(c, m, new)
    return pop(m, ti, "migrated")
