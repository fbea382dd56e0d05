"""Page-table access and the reverse map walk (mm/rmap.c rmap_walk)."""

from __future__ import annotations

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


def set_pte(m: Machine, pid: int, vpn: int, pte: pte_t) -> Machine:
    """set_pte_at()."""
    S.set_pte_at(m, pid, vpn, pte)
    return m


def pte_clear(m: Machine, pid: int, vpn: int) -> Machine:
    """pte_clear(): the entry becomes pte_none."""
    S.pte_clear(m, pid, vpn)
    return m


def maybe_mkwrite(pte: pte_t, vma: Vma) -> pte_t:
    """maybe_mkwrite(): writable if the VMA is VM_WRITE."""
    return pte_mkwrite(pte) if vma.writable else pte


def rmap_present(m: Machine, pfn: int) -> list[tuple[int, int, pte_t]]:
    """Every present PTE mapping ``pfn``: (pid, vpn, pte)."""
    out = []
    for pid in range(S.nr_processes(m)):
        for vpn in S.mapped_vpns(m, pid):
            pte = S.pte_at(m, pid, vpn)
            if pte_present(pte) and pte_pfn(pte) == pfn:
                out.append((pid, vpn, pte))
    return out


def rmap_migration(m: Machine, pfn: int) -> list[tuple[int, int, pte_t]]:
    """Every migration entry standing for ``pfn``."""
    out = []
    for pid in range(S.nr_processes(m)):
        for vpn in S.mapped_vpns(m, pid):
            pte = S.pte_at(m, pid, vpn)
            if is_migration_entry(pte) and pfn_swap_entry_to_pfn(pte) == pfn:
                out.append((pid, vpn, pte))
    return out
