"""Page-table access and the reverse map walk (mm/rmap.c rmap_walk)."""

from __future__ import annotations

from collections.abc import Iterator

from cowlab.model import Machine, Vma
from cowlab.model import state as S
from cowlab.model.pte import (
    is_migration_entry,
    pfn_swap_entry_to_pfn,
    pte_mkwrite,
    pte_pfn,
    pte_present,
    pte_t,
)


def maybe_mkwrite(pte: pte_t, vma: Vma) -> pte_t:
    """maybe_mkwrite(): writable if the VMA is VM_WRITE."""
    return pte_mkwrite(pte) if vma.writable else pte


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


def rmap_migration(m: Machine, pfn: int) -> list[tuple[int, int, pte_t]]:
    """Every migration entry standing for ``pfn``."""
    return [
        (pid, vpn, pte)
        for pid, vpn, pte in page_table_walk(m)
        if is_migration_entry(pte) and pfn_swap_entry_to_pfn(pte) == pfn
    ]
