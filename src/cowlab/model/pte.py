"""Page-table entries.

An absent key in a page table is ``pte_none``.  The other three kinds are
separate record types so that a path must say which kind it handles.
"""

from __future__ import annotations

from typing import NamedTuple


class PresentPte(NamedTuple):
    """A present PTE.

    ``protnone`` is the NUMA-hinting PROT_NONE state.  ``savedwrite`` is the write
    permission stashed while protnone (b191f9b106ea "mm: numa: preserve PTE write
    permissions across a NUMA hinting fault"); on x86 it *is* the RW bit, which is
    why ``pte_write()`` of a protnone PTE is true (see ``pte_write``).
    """

    pfn: int
    write: bool = False
    dirty: bool = False
    young: bool = True
    protnone: bool = False
    savedwrite: bool = False
    soft_dirty: bool = False
    #: one of the HPAGE_NR entries of a PMD mapping a THP (an aligned group of vpns,
    #: each naming its subpage); paths treat the group as one PMD or split it first
    pmd: bool = False


class MigrationEntry(NamedTuple):
    """A migration entry standing in for a mapping of ``pfn`` while it migrates."""

    pfn: int
    #: "writable", "readable" or "readable_exclusive" (the last from 6c287605fd56, v5.19)
    mode: str = "readable"
    soft_dirty: bool = False


class SwapEntry(NamedTuple):
    """A swap PTE referring to a swap slot."""

    slot: int
    #: the swap PTE's exclusive bit (1493a1913e34, v5.19)
    exclusive: bool = False
    soft_dirty: bool = False


Pte = PresentPte | MigrationEntry | SwapEntry

MIGRATION_WRITABLE = "writable"
MIGRATION_READABLE = "readable"
MIGRATION_READABLE_EXCLUSIVE = "readable_exclusive"


def pte_write(pte: PresentPte) -> bool:
    """pte_write() on x86: the RW bit, which a NUMA protnone PTE keeps as savedwrite."""
    return pte.write or (pte.protnone and pte.savedwrite)
