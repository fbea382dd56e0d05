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
from cowlab.kernel.huge_memory import new_folio, pmd_base
from cowlab.kernel.lru import putback_lru_page
from cowlab.kernel.pages import (
    folio_mapped,
    folio_pages,
    get_page,
    page_add_rmap,
    page_maybe_dma_pinned,
    page_remove_rmap,
    put_page,
)
from cowlab.kernel.pgtable import rmap_folio
from cowlab.model import HPAGE_NR, NO_SLOT, VM_WRITE, Frame, Machine
from cowlab.model import state as S
from cowlab.model.pte import (
    PAGE_READONLY,
    is_migration_entry_dirty,
    is_migration_entry_young,
    is_readable_migration_entry,
    is_writable_migration_entry,
    make_migration_entry_dirty,
    make_migration_entry_young,
    make_readable_exclusive_migration_entry,
    make_readable_migration_entry,
    make_writable_migration_entry,
    migration_entry_mode,
    pfn_pte,
    pfn_swap_entry_to_pfn,
    pte_dirty,
    pte_mkdirty,
    pte_mkold,
    pte_mkpmd_mapped,
    pte_mksoft_dirty,
    pte_mkwrite,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_protnone,
    pte_soft_dirty,
    pte_swp_mksoft_dirty,
    pte_swp_soft_dirty,
    pte_t,
    pte_to_swp_entry,
    pte_write,
    pte_young,
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


def folio_pfns(m: Machine, pfn: int) -> list[int]:
    """The pages that migrate together: a THP's subpages (head first), or the page."""
    return folio_pages(m, pfn) if S.PageTransCompound(m, pfn) else [pfn]


def _migration_pte(c: Ctx, pte: pte_t, pfn: int, *, exclusive: bool) -> pte_t:
    """The migration entry for ``pfn`` replacing the present ``pte``: writable iff
    pte_write() (true for a savedwrite PROT_NONE PTE on x86), readable_exclusive for an
    exclusive page from 6c287605fd56, young/dirty kept from 2e3468778dbe; soft-dirty
    and a PMD's mark carry over."""
    if pte_write(pte):
        entry = make_writable_migration_entry(pfn)
    elif exclusive:
        entry = make_readable_exclusive_migration_entry(pfn)
    else:
        entry = make_readable_migration_entry(pfn)
    if c.r.migration_entry_ad:  # the PTE's access and dirty state ride along
        if pte_young(pte):
            entry = make_migration_entry_young(entry)
        if pte_dirty(pte):
            entry = make_migration_entry_dirty(entry)
    swp_pte = swp_entry_to_pte(entry)
    if pte_soft_dirty(pte):
        swp_pte = pte_swp_mksoft_dirty(swp_pte)
    return pte_mkpmd_mapped(swp_pte) if pte_pmd_mapped(pte) else swp_pte


def try_to_migrate(c: Ctx, m: Machine, pfn: int) -> Machine:
    """Replace every present mapping of the page (of a THP: of every subpage, a PMD as a
    PMD migration entry, set_pmd_migration_entry) by migration entries.

    From 6c287605fd56 a pinned exclusive page cannot be unmapped at all
    ("migration will fail early")."""
    fn = "try_to_migrate"
    pages = folio_pfns(m, pfn)
    for pid, vpn, pte in rmap_folio(m, frozenset(pages)):
        if not pte_present(pte) or (pte_pmd_mapped(pte) and vpn != pmd_base(vpn)):
            continue  # a migration entry already, or the rest of a PMD
        sub = pte_pfn(pte)
        exclusive = c.r.anon_exclusive and S.PageAnonExclusive(m, sub)
        if exclusive and page_maybe_dma_pinned(m, sub):
            c.decide(
                fn,
                f"pfn {sub} is PageAnonExclusive and maybe pinned (refcount {S.page_count(m, sub)}): "
                "page_try_share_anon_rmap fails -> keep the mapping",
                "anon_exclusive",
            )
            return m
        entry = _migration_pte(c, pte, sub, exclusive=exclusive)
        why = "writable (savedwrite)" if pte_write(pte) and pte_protnone(pte) else "writable"
        why = why if pte_write(pte) else "read-only, exclusive" if exclusive else "read-only"
        if pte_pmd_mapped(pte):
            for key in range(vpn, vpn + HPAGE_NR):
                old = S.pte_at(m, pid, key)
                S.set_pte_at(m, pid, key, _migration_pte(c, old, pte_pfn(old), exclusive=exclusive))
            S.compound_mapcount_add(m, sub, -1)
            what = "PMD"
        else:
            S.set_pte_at(m, pid, vpn, entry)
            m = page_remove_rmap(m, sub)
            what = "PTE"
        if exclusive:
            for page in pages if pte_pmd_mapped(pte) else [sub]:
                S.ClearPageAnonExclusive(m, page)
        m = put_page(c, m, sub)
        c.decide(
            fn,
            f"{S.mm_name(m, pid)} vpn {vpn:#x}: {what} {why} -> "
            f"{migration_entry_mode(entry)} migration entry",
        )
    return m


def _present_pte(entry: pte_t, pfn: int, write: bool) -> pte_t:
    """remove_migration_pte()/remove_migration_pmd(): a present entry for ``pfn`` from
    vm_page_prot (read-only for a private mapping), old and clean unless the migration
    entry kept the young and dirty bits (2e3468778dbe "mm: remember young/dirty bit for
    page migrations", v6.1); soft-dirty and a PMD's mark carry over."""
    pte = pfn_pte(pfn, PAGE_READONLY)
    if not is_migration_entry_young(entry):
        pte = pte_mkold(pte)
    if is_migration_entry_dirty(entry):
        pte = pte_mkdirty(pte)
    if pte_swp_soft_dirty(entry):
        pte = pte_mksoft_dirty(pte)
    if pte_pmd_mapped(entry):
        pte = pte_mkpmd_mapped(pte)
    return pte_mkwrite(pte) if write else pte


def remove_migration_ptes(c: Ctx, m: Machine, old: int, new: int) -> Machine:
    """Turn the migration entries for the page ``old`` (of a THP: for its subpages)
    into present mappings of ``new``, subpage for subpage; an entry becomes writable
    only if it was writable and the VMA is VM_WRITE."""
    pages = folio_pfns(m, old)
    counterpart = dict(zip(pages, folio_pfns(m, new), strict=True))
    for pid, vpn, old_pte in rmap_folio(m, frozenset(pages)):
        if pte_present(old_pte) or (pte_pmd_mapped(old_pte) and vpn != pmd_base(vpn)):
            continue
        entry = pte_to_swp_entry(old_pte)
        vma = S.vma_lookup(m, pid, vpn)
        write = is_writable_migration_entry(entry) and vma >= 0 and bool(S.vma_flags(m, pid, vma) & VM_WRITE)
        exclusive = c.r.anon_exclusive and not is_readable_migration_entry(entry)
        target = counterpart[pfn_swap_entry_to_pfn(entry)]
        if pte_pmd_mapped(old_pte):
            for key in range(vpn, vpn + HPAGE_NR):
                entry_pte = S.pte_at(m, pid, key)
                sub = counterpart[pfn_swap_entry_to_pfn(entry_pte)]
                S.set_pte_at(m, pid, key, _present_pte(entry_pte, sub, write))
                if exclusive:
                    S.SetPageAnonExclusive(m, sub)
            S.compound_mapcount_add(m, target, 1)
            what = "PMD"
        else:
            S.set_pte_at(m, pid, vpn, _present_pte(old_pte, target, write))
            m = page_add_rmap(m, target, exclusive=True if exclusive else None)
            what = "PTE"
        m = get_page(m, target)
        kept = ""
        if is_migration_entry_young(entry):
            kept += ", young kept"
        if is_migration_entry_dirty(entry):
            kept += ", dirty kept"
        c.decide(
            "remove_migration_pte",
            f"{S.mm_name(m, pid)} vpn {vpn:#x}: {migration_entry_mode(entry)} entry -> "
            f"{what} {'writable' if write else 'read-only'} to pfn {target}{kept}",
            "migration_entry_ad" if kept else "",
        )
    return m


@stage("migrate.isolated", choices=("trylock_fail",))
def unmap_and_move_unmap(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Lock the isolated page (async: trylock) and unmap it to migration entries."""
    loc: MigrateLocals = frame.locals  # type: ignore[assignment]
    if S.PageLocked(m, loc.pfn) or c.choice == "trylock_fail":
        c.decide("unmap_and_move", f"trylock_page(pfn {loc.pfn}) failed -> -EAGAIN")
        return _next_pass(c, m, ti, loc)
    S.set_page_locked(m, loc.pfn, True)
    if folio_mapped(m, loc.pfn):
        m = try_to_migrate(c, m, loc.pfn)
    return goto(m, ti, "migrate.unmapped")


@stage("migrate.unmapped", choices=("transient_ref",))
def unmap_and_move_move(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Check the expected refcount, then move the page or restore the old mappings."""
    loc: MigrateLocals = frame.locals  # type: ignore[assignment]
    fn = "migrate_page_move_mapping"
    cached = S.page_cache_owner(m, loc.pfn) is not None
    expected = 1 + int(S.PageSwapCache(m, loc.pfn)) + int(cached)
    refcount = S.page_count(m, loc.pfn)
    if folio_mapped(m, loc.pfn):
        c.decide("unmap_and_move", f"pfn {loc.pfn} still mapped -> -EAGAIN")
    elif refcount != expected or c.choice == "transient_ref":
        extra = " + a transient reference" if c.choice == "transient_ref" else ""
        c.decide(
            fn,
            f"refcount {refcount}{extra} != expected {expected} -> -EAGAIN "
            f"(pass {loc.npass + 1}/{NR_MAX_MIGRATE_PAGES_RETRY})",
        )
    else:
        c.decide(fn, f"refcount {refcount} == expected {expected} -> move")
        return _move(c, m, ti, loc)
    m = remove_migration_ptes(c, m, loc.pfn, loc.pfn)
    S.set_page_locked(m, loc.pfn, False)
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
    old = loc.pfn
    if S.PageTransCompound(m, old):
        contents = tuple(S.page_content(m, pfn) for pfn in folio_pages(m, old))
        new = new_folio(m, loc.target, contents, anon=S.PageAnon(m, old), pmd_mapped=False)[0]
    else:
        new = S.alloc_pfn(m)
        S.init_page(
            m,
            new,
            node=loc.target,
            content=S.page_content(m, old),
            refcount=1,
            anon=S.PageAnon(m, old),
            lru=True,
        )
    if S.PageSwapCache(m, old):
        slot = S.page_swap_slot(m, old)
        assert S.swap_in_use(m, slot)
        S.set_swap_cache_pfn(m, slot, new)
        S.set_page_swap_slot(m, new, slot)
        S.page_ref_add(m, new, 1)
        S.set_page_swap_slot(m, old, NO_SLOT)
        m = put_page(c, m, old)
    owner = S.page_cache_owner(m, old)
    if owner is not None:
        fi, index = owner
        S.set_file_page_pfn(m, fi, index, new)
        S.page_ref_add(m, new, 1)
        m = put_page(c, m, old)
    c.note("migrate_page", f"pfn {old} copied to new pfn {new} on node {loc.target}")
    m = remove_migration_ptes(c, m, old, new)
    S.set_page_locked(m, old, False)
    S.SetPageIsolated(m, old, False)
    m = put_page(c, m, old)
    m = put_page(c, m, new)
    return pop(m, ti, "migrated")
