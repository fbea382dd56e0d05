"""Page-table access and the reverse map walk (mm/rmap.c rmap_walk)."""

from __future__ import annotations

from cowlab.model import Machine, MigrationEntry, PresentPte, Pte


def set_pte(m: Machine, pid: int, vpn: int, pte: Pte | None) -> Machine:
    return m.with_process(m.processes[pid].with_pte(vpn, pte))


def _rmap(m: Machine, pfn: int, kind: type) -> list:
    return [(proc.pid, vpn, pte) for proc in m.processes for vpn, pte in proc.ptes
            if type(pte) is kind and pte.pfn == pfn]  # type: ignore[union-attr]


def rmap_present(m: Machine, pfn: int) -> list[tuple[int, int, PresentPte]]:
    """Every present PTE mapping ``pfn``: (pid, vpn, pte)."""
    return _rmap(m, pfn, PresentPte)


def rmap_migration(m: Machine, pfn: int) -> list[tuple[int, int, MigrationEntry]]:
    """Every migration entry standing for ``pfn``."""
    return _rmap(m, pfn, MigrationEntry)
