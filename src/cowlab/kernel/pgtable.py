"""Page-table access and the reverse map walk (mm/rmap.c rmap_walk)."""

from __future__ import annotations

from collections.abc import Iterator

from cowlab.model import Machine, Vma
from cowlab.model import state as S
from cowlab.model.pte import (
    is_migration_entry,
    make_readable_exclusive_migration_entry,
    make_readable_migration_entry,
    migration_entry_keep_ad,
    pfn_swap_entry_to_pfn,
    pte_mkpmd_mapped,
    pte_mkwrite,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_swp_mksoft_dirty,
    pte_swp_soft_dirty,
    pte_t,
    pte_to_swp_entry,
    swp_entry_to_pte,
)


def maybe_mkwrite(pte: pte_t, vma: Vma) -> pte_t:
    """maybe_mkwrite(): writable if the VMA is VM_WRITE."""
    return pte_mkwrite(pte) if vma.writable else pte


def readable_migration_pte(pte: pte_t, *, exclusive: bool) -> pte_t:
    """A migration entry rebuilt readable (readable_exclusive if ``exclusive``), as
    change_pte_range, change_huge_pmd and fork's copy do when they may not leave it
    writable; the young and dirty bits, soft-dirty and the PMD bit carry over."""
    entry = pte_to_swp_entry(pte)
    pfn = pfn_swap_entry_to_pfn(entry)
    if exclusive:
        rebuilt = make_readable_exclusive_migration_entry(pfn)
    else:
        rebuilt = make_readable_migration_entry(pfn)
    new = swp_entry_to_pte(migration_entry_keep_ad(rebuilt, entry))
    if pte_swp_soft_dirty(pte):
        new = pte_swp_mksoft_dirty(new)
    return pte_mkpmd_mapped(new) if pte_pmd_mapped(pte) else new


def page_table_walk(m: Machine) -> Iterator[tuple[int, int, pte_t]]:
    """Every non-none entry of every page table: (pid, vpn, pte), by pid and address."""
    for pid in range(S.nr_processes(m)):
        for vpn in S.mapped_vpns(m, pid):
            yield pid, vpn, S.pte_at(m, pid, vpn)


def rmap_present(m: Machine, pfn: int) -> list[tuple[int, int, pte_t]]:
    """Every present PTE mapping ``pfn``: (pid, vpn, pte)."""
    return [
        (pid, vpn, pte) for pid, vpn, pte in page_table_walk(m) if pte_present(pte) and pte_pfn(pte) == pfn
    ]


def folio_mms(m: Machine, pfns: frozenset[int]) -> frozenset[int]:
    """The mms (pids) that map one of ``pfns``, the pages of a folio: what the MM owner
    slots of 003fde4492c8 (v6.15) answer exactly."""
    return frozenset(pid for pid, _, _ in rmap_folio(m, pfns))


def rmap_folio(m: Machine, pfns: frozenset[int]) -> list[tuple[int, int, pte_t]]:
    """Every present PTE and migration entry that names one of ``pfns`` (the pages of a
    folio): one walk for the whole folio."""
    out = []
    for pid, vpn, pte in page_table_walk(m):
        if pte_present(pte):
            if pte_pfn(pte) in pfns:
                out.append((pid, vpn, pte))
        elif is_migration_entry(pte) and pfn_swap_entry_to_pfn(pte) in pfns:
            out.append((pid, vpn, pte))
    return out
