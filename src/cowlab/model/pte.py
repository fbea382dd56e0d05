"""Page-table entries as integers (``pte_t``), with the kernel's accessors.

A ``pte_t`` is a non-negative int laid out like a real PTE: flag bits in the low
``PAGE_SHIFT`` bits, and above them the pfn (a present PTE, a migration entry) or the
swap slot (a swap entry), so that ``pte_pfn(pte) == pte >> PAGE_SHIFT``.  0 is
``pte_none``: a page table holds no entry for an absent one.  Only this module looks
at the bits; kernel code, the invariants and the checker use the accessors below,
named after the kernel functions they model.

Present PTE (``pte_present``):

    bit 0   _PAGE_PRESENT     a present mapping (a PROT_NONE one too)
    bit 1   _PAGE_RW          writable
    bit 5   _PAGE_ACCESSED    young
    bit 6   _PAGE_DIRTY       dirty
    bit 7   _PAGE_PMD         model: one of the HPAGE_NR entries of a PMD mapping
    bit 8   _PAGE_PROTNONE    NUMA hinting (or mprotect) PROT_NONE
    bit 9   _PAGE_SAVEDWRITE  model: the write permission kept while PROT_NONE
    bit 11  _PAGE_SOFT_DIRTY  soft-dirty
    12..    pfn               pte_pfn()

Swap-type PTE (``is_swap_pte``: not none, _PAGE_PRESENT clear):

    bits 1-3  type                  SWP_SWAPFILE (a swap slot), SWP_MIGRATION_READ,
                                    SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIGRATION_WRITE
    bit 4     _SWP_MIG_YOUNG        a migration entry of a young PTE (2e3468778dbe;
                                    the kernel keeps it in the offset's high bits)
    bit 5     _SWP_MIG_DIRTY        a migration entry of a dirty PTE (2e3468778dbe)
    bit 8     _SWP_PMD              model: one of the HPAGE_NR entries of a PMD
                                    migration entry (the kernel's is_pmd_migration_entry)
    bit 7     _PAGE_SWP_EXCLUSIVE   the swap PTE's exclusive bit (1493a1913e34)
    bit 11    _PAGE_SWP_SOFT_DIRTY  soft-dirty of a swap or migration entry
    12..      offset                swp_offset(): the slot, or a migration entry's pfn

The model does not keep a separate ``swp_entry_t`` word: a swap entry is the PTE's
value without its PTE-only flags (``pte_to_swp_entry``), and ``swp_entry_to_pte`` is
the identity.  The ``is_*_entry`` tests are total: they answer False for a present
PTE and for pte_none, so that callers need not test ``is_swap_pte`` first.

``savedwrite`` (b191f9b106ea "mm: numa: preserve PTE write permissions across a NUMA
hinting fault") is the write permission stashed while a PTE is PROT_NONE.  On x86 it
*is* the RW bit, which is why ``pte_write()`` of a PROT_NONE PTE is true when it is
set; the model keeps it in a bit of its own, so that a PROT_NONE PTE's RW bit stays
clear (``check_sanity`` checks both).

``PresentPte``, ``MigrationEntry`` and ``SwapEntry`` are readable views of a
``pte_t`` for reports, tests and the public API (``pte_view``, ``to_pte_t``).
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

#: a page-table entry (the kernel's ``pte_t``)
pte_t: TypeAlias = int
#: a swap entry (the kernel's ``swp_entry_t``): type and offset, no PTE-only flags
swp_entry_t: TypeAlias = int
#: protection bits for ``pfn_pte`` and ``pte_modify`` (the kernel's ``pgprot_t``)
pgprot_t: TypeAlias = int

PAGE_SHIFT = 12
_PAGE_FLAGS_MASK = (1 << PAGE_SHIFT) - 1

# --- present PTEs -----------------------------------------------------------------

_PAGE_PRESENT = 1 << 0
_PAGE_RW = 1 << 1
_PAGE_ACCESSED = 1 << 5
_PAGE_DIRTY = 1 << 6
#: model: one of the HPAGE_NR entries of a PMD mapping a THP (x86 puts _PAGE_PSE here)
_PAGE_PMD = 1 << 7
#: x86 reuses _PAGE_GLOBAL's bit for PROT_NONE
_PAGE_PROTNONE = 1 << 8
#: model: the write permission of a PROT_NONE PTE (x86 keeps it in _PAGE_RW)
_PAGE_SAVEDWRITE = 1 << 9
_PAGE_SOFT_DIRTY = 1 << 11

#: the bits pte_modify() replaces (the complement of x86's _PAGE_CHG_MASK)
_PAGE_PROT_MASK = _PAGE_PRESENT | _PAGE_RW | _PAGE_PROTNONE | _PAGE_SAVEDWRITE
_PROTNONE_SAVEDWRITE = _PAGE_PROTNONE | _PAGE_SAVEDWRITE

#: vm_page_prot of an inaccessible VMA (x86 PAGE_NONE: present to the kernel only)
PAGE_NONE: pgprot_t = _PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_ACCESSED
#: vm_page_prot of a private mapping, whether VM_WRITE or not: writes fault first
#: (x86 PAGE_READONLY/PAGE_COPY, which include _PAGE_ACCESSED: a new PTE is young)
PAGE_READONLY: pgprot_t = _PAGE_PRESENT | _PAGE_ACCESSED

# --- swap-type PTEs -----------------------------------------------------------------

_SWP_TYPE_SHIFT = 1
_SWP_TYPE_BITS = 3
_SWP_TYPE_MASK = ((1 << _SWP_TYPE_BITS) - 1) << _SWP_TYPE_SHIFT
#: what identifies an entry's kind: the present bit and the swap type
_PTE_KIND_MASK = _PAGE_PRESENT | _SWP_TYPE_MASK
_PAGE_SWP_EXCLUSIVE = 1 << 7
_PAGE_SWP_SOFT_DIRTY = 1 << 11
_PAGE_SWP_FLAGS = _PAGE_SWP_EXCLUSIVE | _PAGE_SWP_SOFT_DIRTY
#: part of a migration entry itself (not PTE-only): the access and dirty state of the
#: PTE it replaced, where the architecture has room for them (x86-64 has)
_SWP_MIG_YOUNG = 1 << 4
_SWP_MIG_DIRTY = 1 << 5
#: model: one of the HPAGE_NR entries that stand for a PMD migration entry (a THP
#: migrating whole, set_pmd_migration_entry)
_SWP_PMD = 1 << 8

#: the model's one swap device.  The kernel numbers swap devices from 0; here the
#: device is 1, so that the entry for slot 0 is not pte_none.
SWP_SWAPFILE = 1
#: migration entries (include/linux/swap.h: types above MAX_SWAPFILES)
SWP_MIGRATION_READ = 2
#: 6c287605fd56 (v5.19)
SWP_MIGRATION_READ_EXCLUSIVE = 3
SWP_MIGRATION_WRITE = 4

_KIND_SWAP = SWP_SWAPFILE << _SWP_TYPE_SHIFT
_KIND_MIGRATION_READ = SWP_MIGRATION_READ << _SWP_TYPE_SHIFT
_KIND_MIGRATION_READ_EXCLUSIVE = SWP_MIGRATION_READ_EXCLUSIVE << _SWP_TYPE_SHIFT
_KIND_MIGRATION_WRITE = SWP_MIGRATION_WRITE << _SWP_TYPE_SHIFT
_KINDS_MIGRATION = frozenset({_KIND_MIGRATION_READ, _KIND_MIGRATION_READ_EXCLUSIVE, _KIND_MIGRATION_WRITE})

MIGRATION_WRITABLE = "writable"
MIGRATION_READABLE = "readable"
MIGRATION_READABLE_EXCLUSIVE = "readable_exclusive"

_MIGRATION_MODES = {
    _KIND_MIGRATION_READ: MIGRATION_READABLE,
    _KIND_MIGRATION_READ_EXCLUSIVE: MIGRATION_READABLE_EXCLUSIVE,
    _KIND_MIGRATION_WRITE: MIGRATION_WRITABLE,
}
_MIGRATION_TYPES = {
    MIGRATION_READABLE: SWP_MIGRATION_READ,
    MIGRATION_READABLE_EXCLUSIVE: SWP_MIGRATION_READ_EXCLUSIVE,
    MIGRATION_WRITABLE: SWP_MIGRATION_WRITE,
}


# --- any PTE ------------------------------------------------------------------------


def pte_none(pte: pte_t) -> bool:
    """pte_none(): no entry."""
    return pte == 0


def pte_present(pte: pte_t) -> bool:
    """pte_present(): a present mapping, PROT_NONE included."""
    return bool(pte & _PAGE_PRESENT)


# --- present PTEs -------------------------------------------------------------------


def pfn_pte(pfn: int, prot: pgprot_t) -> pte_t:
    """pfn_pte() / mk_pte(): a present PTE mapping ``pfn`` with protection ``prot``."""
    return (pfn << PAGE_SHIFT) | prot


def pte_pfn(pte: pte_t) -> int:
    """pte_pfn(): the page a present PTE maps."""
    return pte >> PAGE_SHIFT


def pte_write(pte: pte_t) -> bool:
    """pte_write() on x86: the RW bit, which a NUMA PROT_NONE PTE keeps as savedwrite."""
    return bool(pte & _PAGE_RW) or (pte & _PROTNONE_SAVEDWRITE) == _PROTNONE_SAVEDWRITE


def pte_dirty(pte: pte_t) -> bool:
    """pte_dirty()."""
    return bool(pte & _PAGE_DIRTY)


def pte_young(pte: pte_t) -> bool:
    """pte_young(): the accessed bit."""
    return bool(pte & _PAGE_ACCESSED)


def pte_protnone(pte: pte_t) -> bool:
    """pte_protnone(): a present PTE that no user access may use (NUMA hinting or
    PROT_NONE)."""
    return bool(pte & _PAGE_PROTNONE)


def pte_savedwrite(pte: pte_t) -> bool:
    """pte_savedwrite() (up to d6379159f476, v6.2): the stashed write bit.  Model: its own
    bit, set only on a PROT_NONE PTE."""
    return bool(pte & _PAGE_SAVEDWRITE)


def pte_soft_dirty(pte: pte_t) -> bool:
    """pte_soft_dirty()."""
    return bool(pte & _PAGE_SOFT_DIRTY)


def pte_pmd_mapped(pte: pte_t) -> bool:
    """Model: one of the HPAGE_NR entries that stand for a PMD: a PMD mapping a THP,
    or a PMD migration entry (is_pmd_migration_entry).  False for a swap entry."""
    if pte & _PAGE_PRESENT:
        return bool(pte & _PAGE_PMD)
    return (pte & _PTE_KIND_MASK) in _KINDS_MIGRATION and bool(pte & _SWP_PMD)


def pte_pgprot(pte: pte_t) -> pgprot_t:
    """pte_pgprot(): a present PTE's flag bits, without the pfn."""
    return pte & _PAGE_FLAGS_MASK


def pte_modify(pte: pte_t, prot: pgprot_t) -> pte_t:
    """pte_modify(): new protection bits; pfn, dirty, young, soft-dirty kept."""
    return (pte & ~_PAGE_PROT_MASK) | (prot & _PAGE_PROT_MASK)


def pte_mkwrite(pte: pte_t) -> pte_t:
    """pte_mkwrite()."""
    return pte | _PAGE_RW


def pte_wrprotect(pte: pte_t) -> pte_t:
    """pte_wrprotect(): clears the RW bit, which on x86 is also the savedwrite bit."""
    return pte & ~(_PAGE_RW | _PAGE_SAVEDWRITE)


def pte_mk_savedwrite(pte: pte_t) -> pte_t:
    """pte_mk_savedwrite() (288bc54949fc, v4.11; gone in v6.2): keep the write permission
    of a PTE made PROT_NONE."""
    return pte | _PAGE_SAVEDWRITE


def pte_mkdirty(pte: pte_t) -> pte_t:
    """pte_mkdirty().  x86 sets the soft-dirty bit with it; the model says
    ``pte_mksoft_dirty`` where it does."""
    return pte | _PAGE_DIRTY


def pte_mkclean(pte: pte_t) -> pte_t:
    """pte_mkclean()."""
    return pte & ~_PAGE_DIRTY


def pte_mkyoung(pte: pte_t) -> pte_t:
    """pte_mkyoung()."""
    return pte | _PAGE_ACCESSED


def pte_mkold(pte: pte_t) -> pte_t:
    """pte_mkold()."""
    return pte & ~_PAGE_ACCESSED


def pte_mksoft_dirty(pte: pte_t) -> pte_t:
    """pte_mksoft_dirty()."""
    return pte | _PAGE_SOFT_DIRTY


def pte_clear_soft_dirty(pte: pte_t) -> pte_t:
    """pte_clear_soft_dirty()."""
    return pte & ~_PAGE_SOFT_DIRTY


def pte_mkpmd_mapped(pte: pte_t) -> pte_t:
    """Model: make the entry (present, or a migration entry) one of the HPAGE_NR
    entries of a PMD."""
    return pte | (_PAGE_PMD if pte & _PAGE_PRESENT else _SWP_PMD)


def pte_clear_pmd_mapped(pte: pte_t) -> pte_t:
    """Model: the entry becomes an ordinary PTE (the PMD was split)."""
    return pte & ~(_PAGE_PMD if pte & _PAGE_PRESENT else _SWP_PMD)


# --- swap and migration entries -----------------------------------------------------


def is_swap_pte(pte: pte_t) -> bool:
    """is_swap_pte(): neither none nor present (a swap or migration entry)."""
    return pte != 0 and not pte & _PAGE_PRESENT


def swp_entry(type_: int, offset: int) -> swp_entry_t:
    """swp_entry(): the entry of ``offset`` in swap type ``type_``."""
    return (offset << PAGE_SHIFT) | (type_ << _SWP_TYPE_SHIFT)


def swp_type(entry: swp_entry_t) -> int:
    """swp_type()."""
    return (entry & _SWP_TYPE_MASK) >> _SWP_TYPE_SHIFT


def swp_offset(entry: swp_entry_t) -> int:
    """swp_offset(): the slot of a swap entry, the pfn of a migration entry."""
    return entry >> PAGE_SHIFT


def swp_entry_to_pte(entry: swp_entry_t) -> pte_t:
    """swp_entry_to_pte(): the model stores the entry in the PTE as it is."""
    return entry


def pte_to_swp_entry(pte: pte_t) -> swp_entry_t:
    """pte_to_swp_entry(): the entry without the PTE-only flags (exclusive, soft-dirty)."""
    return pte & ~_PAGE_SWP_FLAGS


def non_swap_entry(entry: swp_entry_t) -> bool:
    """non_swap_entry(): a special entry (here: migration), not a swap slot."""
    return swp_type(entry) != SWP_SWAPFILE


def is_swap_entry(pte: pte_t) -> bool:
    """Model shorthand for is_swap_pte(pte) && !non_swap_entry(pte_to_swp_entry(pte)):
    a swap PTE referring to a swap slot."""
    return (pte & _PTE_KIND_MASK) == _KIND_SWAP


def is_migration_entry(entry: swp_entry_t | pte_t) -> bool:
    """is_migration_entry(), of any PTE."""
    return (entry & _PTE_KIND_MASK) in _KINDS_MIGRATION


def is_writable_migration_entry(entry: swp_entry_t | pte_t) -> bool:
    """is_writable_migration_entry() (is_write_migration_entry() before v5.14)."""
    return (entry & _PTE_KIND_MASK) == _KIND_MIGRATION_WRITE


def is_readable_migration_entry(entry: swp_entry_t | pte_t) -> bool:
    """is_readable_migration_entry()."""
    return (entry & _PTE_KIND_MASK) == _KIND_MIGRATION_READ


def is_readable_exclusive_migration_entry(entry: swp_entry_t | pte_t) -> bool:
    """is_readable_exclusive_migration_entry() (6c287605fd56, v5.19)."""
    return (entry & _PTE_KIND_MASK) == _KIND_MIGRATION_READ_EXCLUSIVE


def is_pfn_swap_entry(entry: swp_entry_t | pte_t) -> bool:
    """is_pfn_swap_entry(): an entry whose offset is a pfn (here: migration entries)."""
    return (entry & _PTE_KIND_MASK) in _KINDS_MIGRATION


def pfn_swap_entry_to_pfn(entry: swp_entry_t | pte_t) -> int:
    """pfn_swap_entry_to_pfn(): the page a migration entry stands for."""
    return entry >> PAGE_SHIFT


def make_readable_migration_entry(pfn: int) -> swp_entry_t:
    """make_readable_migration_entry() (make_migration_entry(page, 0) before v5.14)."""
    return swp_entry(SWP_MIGRATION_READ, pfn)


def make_readable_exclusive_migration_entry(pfn: int) -> swp_entry_t:
    """make_readable_exclusive_migration_entry() (6c287605fd56, v5.19)."""
    return swp_entry(SWP_MIGRATION_READ_EXCLUSIVE, pfn)


def make_writable_migration_entry(pfn: int) -> swp_entry_t:
    """make_writable_migration_entry() (make_migration_entry(page, 1) before v5.14)."""
    return swp_entry(SWP_MIGRATION_WRITE, pfn)


def make_migration_entry_young(entry: swp_entry_t) -> swp_entry_t:
    """make_migration_entry_young() (2e3468778dbe, v6.1)."""
    return entry | _SWP_MIG_YOUNG


def make_migration_entry_dirty(entry: swp_entry_t) -> swp_entry_t:
    """make_migration_entry_dirty() (2e3468778dbe, v6.1)."""
    return entry | _SWP_MIG_DIRTY


def migration_entry_keep_ad(new: swp_entry_t, old: swp_entry_t) -> swp_entry_t:
    """Model: ``new`` (rebuilt from ``swp_offset(old)``) with ``old``'s young and dirty
    bits, which the kernel keeps in the offset and so carries along."""
    return new | (old & (_SWP_MIG_YOUNG | _SWP_MIG_DIRTY))


def is_migration_entry_young(entry: swp_entry_t | pte_t) -> bool:
    return bool(entry & _SWP_MIG_YOUNG)


def is_migration_entry_dirty(entry: swp_entry_t | pte_t) -> bool:
    return bool(entry & _SWP_MIG_DIRTY)


def migration_entry_mode(entry: swp_entry_t | pte_t) -> str:
    """Model: a migration entry's kind as a word (MIGRATION_WRITABLE, ...), for reports."""
    return _MIGRATION_MODES[entry & _PTE_KIND_MASK]


def pte_swp_exclusive(pte: pte_t) -> bool:
    """pte_swp_exclusive() (1493a1913e34, v5.19)."""
    return bool(pte & _PAGE_SWP_EXCLUSIVE)


def pte_swp_mkexclusive(pte: pte_t) -> pte_t:
    """pte_swp_mkexclusive()."""
    return pte | _PAGE_SWP_EXCLUSIVE


def pte_swp_clear_exclusive(pte: pte_t) -> pte_t:
    """pte_swp_clear_exclusive()."""
    return pte & ~_PAGE_SWP_EXCLUSIVE


def pte_swp_soft_dirty(pte: pte_t) -> bool:
    """pte_swp_soft_dirty(): of a swap or migration entry."""
    return bool(pte & _PAGE_SWP_SOFT_DIRTY)


def pte_swp_mksoft_dirty(pte: pte_t) -> pte_t:
    """pte_swp_mksoft_dirty()."""
    return pte | _PAGE_SWP_SOFT_DIRTY


# --- the model checker ----------------------------------------------------------------


def pte_target(pte: pte_t) -> int:
    """Model (canonical states): what the entry refers to, the pfn of a present PTE or
    a migration entry, or the slot of a swap entry."""
    return pte >> PAGE_SHIFT


def pte_retarget(pte: pte_t, target: int) -> pte_t:
    """Model (canonical states): the entry referring to ``target`` instead (a pfn, or
    the slot of a swap entry), its bits unchanged."""
    return (target << PAGE_SHIFT) | (pte & _PAGE_FLAGS_MASK)


def pte_rename(pte: pte_t, pfns: dict[int, int], slots: dict[int, int]) -> pte_t:
    """Model (canonical states): the entry with its pfn, or its swap slot, renamed."""
    names = slots if (pte & _PTE_KIND_MASK) == _KIND_SWAP else pfns
    return pte_retarget(pte, names[pte >> PAGE_SHIFT])


def _flags_valid(flags: int) -> bool:
    if flags & _PAGE_PRESENT:
        if flags & _PAGE_PROTNONE:
            if flags & _PAGE_RW:
                return False
        elif flags & _PAGE_SAVEDWRITE:
            return False
        return not flags & ~(_PAGE_PROT_MASK | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_PMD | _PAGE_SOFT_DIRTY)
    kind = flags & _PTE_KIND_MASK
    if kind == _KIND_SWAP:
        return not flags & ~(_PTE_KIND_MASK | _PAGE_SWP_FLAGS)
    return kind in _KINDS_MIGRATION and not flags & ~(
        _PTE_KIND_MASK | _PAGE_SWP_SOFT_DIRTY | _SWP_MIG_YOUNG | _SWP_MIG_DIRTY | _SWP_PMD
    )


_VALID_FLAGS = frozenset(f for f in range(1 << PAGE_SHIFT) if _flags_valid(f))


def pte_is_valid(pte: pte_t) -> bool:
    """Model (sanity): a present PTE, a swap entry or a migration entry, with no bit the
    encoding does not define; savedwrite only on a PROT_NONE PTE, whose RW bit is clear
    (so that ``pte_write`` is the RW bit or the savedwrite bit, never both)."""
    return (pte & _PAGE_FLAGS_MASK) in _VALID_FLAGS


# --- readable views -----------------------------------------------------------------


class PresentPte(NamedTuple):
    """A view of a present PTE (``pte_view``).

    ``protnone`` is the NUMA-hinting PROT_NONE state; ``savedwrite`` the write
    permission stashed while protnone (see the module docstring and ``pte_write``).
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
    """A view of a migration entry standing in for a mapping of ``pfn`` while it migrates."""

    pfn: int
    #: "writable", "readable" or "readable_exclusive" (the last from 6c287605fd56, v5.19)
    mode: str = MIGRATION_READABLE
    soft_dirty: bool = False
    #: the replaced PTE was young / dirty (kept from 2e3468778dbe, v6.1)
    young: bool = False
    dirty: bool = False
    #: one of the HPAGE_NR entries of a PMD migration entry (a THP migrating whole)
    pmd: bool = False


class SwapEntry(NamedTuple):
    """A view of a swap PTE referring to a swap slot."""

    slot: int
    #: the swap PTE's exclusive bit (1493a1913e34, v5.19)
    exclusive: bool = False
    soft_dirty: bool = False


Pte = PresentPte | MigrationEntry | SwapEntry


def pte_view(pte: pte_t) -> Pte | None:
    """A readable record of ``pte`` (None for pte_none)."""
    if pte == 0:
        return None
    if not pte_is_valid(pte):
        raise ValueError(f"not a pte_t: {pte:#x}")
    if pte_present(pte):
        return PresentPte(
            pte_pfn(pte),
            write=bool(pte & _PAGE_RW),
            dirty=pte_dirty(pte),
            young=pte_young(pte),
            protnone=pte_protnone(pte),
            savedwrite=pte_savedwrite(pte),
            soft_dirty=pte_soft_dirty(pte),
            pmd=pte_pmd_mapped(pte),
        )
    if is_migration_entry(pte):
        return MigrationEntry(
            pfn_swap_entry_to_pfn(pte),
            migration_entry_mode(pte),
            pte_swp_soft_dirty(pte),
            is_migration_entry_young(pte),
            is_migration_entry_dirty(pte),
            pte_pmd_mapped(pte),
        )
    return SwapEntry(swp_offset(pte), pte_swp_exclusive(pte), pte_swp_soft_dirty(pte))


def to_pte_t(record: Pte | None) -> pte_t:
    """The ``pte_t`` a view stands for (inverse of ``pte_view``)."""
    if record is None:
        return 0
    if type(record) is PresentPte:
        pte = pfn_pte(record.pfn, _PAGE_PRESENT)
        for on, bit in (
            (record.write, _PAGE_RW),
            (record.dirty, _PAGE_DIRTY),
            (record.young, _PAGE_ACCESSED),
            (record.protnone, _PAGE_PROTNONE),
            (record.savedwrite, _PAGE_SAVEDWRITE),
            (record.soft_dirty, _PAGE_SOFT_DIRTY),
            (record.pmd, _PAGE_PMD),
        ):
            if on:
                pte |= bit
        return pte
    if type(record) is MigrationEntry:
        entry = swp_entry(_MIGRATION_TYPES[record.mode], record.pfn)
        if record.young:
            entry = make_migration_entry_young(entry)
        if record.dirty:
            entry = make_migration_entry_dirty(entry)
        pte = swp_entry_to_pte(entry)
        if record.pmd:
            pte = pte_mkpmd_mapped(pte)
        return pte_swp_mksoft_dirty(pte) if record.soft_dirty else pte
    assert type(record) is SwapEntry
    pte = swp_entry_to_pte(swp_entry(SWP_SWAPFILE, record.slot))
    if record.exclusive:
        pte = pte_swp_mkexclusive(pte)
    return pte_swp_mksoft_dirty(pte) if record.soft_dirty else pte
