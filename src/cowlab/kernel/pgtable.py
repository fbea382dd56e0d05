"""Page-table access and the reverse map walk (mm/rmap.c rmap_walk)."""

from __future__ import annotations

from cowlab.model import Machine, Vma
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
    return m.with_process(m.processes[pid].with_pte(vpn, pte))


def pte_clear(m: Machine, pid: int, vpn: int) -> Machine:
    """pte_clear(): the entry becomes pte_none."""
    return m.with_process(m.processes[pid].with_pte(vpn, 0))


def maybe_mkwrite(pte: pte_t, vma: Vma) -> pte_t:
    """maybe_mkwrite(): writable if the VMA is VM_WRITE."""
    return pte_mkwrite(pte) if vma.writable else pte


def rmap_present(m: Machine, pfn: int) -> list[tuple[int, int, pte_t]]:
    """Every present PTE mapping ``pfn``: (pid, vpn, pte)."""
    return [(proc.pid, vpn, pte) for proc in m.processes for vpn, pte in proc.ptes
            if pte_present(pte) and pte_pfn(pte) == pfn]


def rmap_migration(m: Machine, pfn: int) -> list[tuple[int, int, pte_t]]:
    """Every migration entry standing for ``pfn``."""
    return [(proc.pid, vpn, pte) for proc in m.processes for vpn, pte in proc.ptes
            if is_migration_entry(pte) and pfn_swap_entry_to_pfn(pte) == pfn]
