"""The pte_t encoding: every record the model can hold has one int, the accessors read
what the records said, and the views go back and forth."""

from __future__ import annotations

import itertools

import pytest

from cowlab.model import MigrationEntry, PresentPte, SwapEntry, pte_view, to_pte_t
from cowlab.model.pte import (
    MIGRATION_READABLE,
    MIGRATION_READABLE_EXCLUSIVE,
    MIGRATION_WRITABLE,
    PAGE_NONE,
    PAGE_READONLY,
    PAGE_SHIFT,
    is_migration_entry,
    is_readable_exclusive_migration_entry,
    is_readable_migration_entry,
    is_swap_entry,
    is_swap_pte,
    is_writable_migration_entry,
    make_readable_exclusive_migration_entry,
    make_readable_migration_entry,
    make_writable_migration_entry,
    migration_entry_mode,
    non_swap_entry,
    pfn_pte,
    pfn_swap_entry_to_pfn,
    pte_clear_pmd_mapped,
    pte_clear_soft_dirty,
    pte_dirty,
    pte_is_valid,
    pte_mk_savedwrite,
    pte_mkclean,
    pte_mkdirty,
    pte_mkold,
    pte_mkpmd_mapped,
    pte_mksoft_dirty,
    pte_mkwrite,
    pte_mkyoung,
    pte_modify,
    pte_none,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_protnone,
    pte_rename,
    pte_savedwrite,
    pte_soft_dirty,
    pte_swp_clear_exclusive,
    pte_swp_exclusive,
    pte_swp_mkexclusive,
    pte_swp_mksoft_dirty,
    pte_swp_soft_dirty,
    pte_to_swp_entry,
    pte_write,
    pte_wrprotect,
    pte_young,
    swp_entry_to_pte,
    swp_offset,
)

PFNS = (0, 1, 7, 1 << 20)


def present_records() -> list[PresentPte]:
    """Every present record the sanity check accepts: savedwrite only while PROT_NONE,
    and a PROT_NONE PTE has no write bit."""
    out = []
    for pfn in PFNS:
        for bits in itertools.product((False, True), repeat=7):
            record = PresentPte(pfn, *bits)
            if (record.savedwrite and not record.protnone) or (record.protnone and record.write):
                continue
            out.append(record)
    return out


def nonpresent_records() -> list[MigrationEntry | SwapEntry]:
    modes = (MIGRATION_READABLE, MIGRATION_READABLE_EXCLUSIVE, MIGRATION_WRITABLE)
    return [
        *(MigrationEntry(pfn, mode, sd) for pfn in PFNS for mode in modes for sd in (False, True)),
        *(SwapEntry(slot, ex, sd) for slot in PFNS for ex in (False, True) for sd in (False, True)),
    ]


def test_views_round_trip_and_encodings_are_distinct() -> None:
    records = [*present_records(), *nonpresent_records()]
    ptes = [to_pte_t(r) for r in records]
    assert len(set(ptes)) == len(records)
    for record, pte in zip(records, ptes, strict=True):
        assert pte > 0 and pte_is_valid(pte)
        assert pte_view(pte) == record
    assert to_pte_t(None) == 0 and pte_view(0) is None


def test_present_accessors_read_the_record() -> None:
    for record in present_records():
        pte = to_pte_t(record)
        assert pte_present(pte) and not is_swap_pte(pte) and not pte_none(pte)
        assert not is_migration_entry(pte) and not is_swap_entry(pte)
        assert pte_pfn(pte) == record.pfn == pte >> PAGE_SHIFT
        assert pte_write(pte) == (record.write or (record.protnone and record.savedwrite))
        assert pte_dirty(pte) == record.dirty and pte_young(pte) == record.young
        assert pte_protnone(pte) == record.protnone
        assert pte_savedwrite(pte) == record.savedwrite
        assert pte_soft_dirty(pte) == record.soft_dirty
        assert pte_pmd_mapped(pte) == record.pmd


def test_present_modifiers_change_one_field() -> None:
    for record in present_records():
        pte = to_pte_t(record)
        assert pte_view(pte_mkdirty(pte)) == record._replace(dirty=True)
        assert pte_view(pte_mkclean(pte)) == record._replace(dirty=False)
        assert pte_view(pte_mkyoung(pte)) == record._replace(young=True)
        assert pte_view(pte_mkold(pte)) == record._replace(young=False)
        assert pte_view(pte_mksoft_dirty(pte)) == record._replace(soft_dirty=True)
        assert pte_view(pte_clear_soft_dirty(pte)) == record._replace(soft_dirty=False)
        assert pte_view(pte_mkpmd_mapped(pte)) == record._replace(pmd=True)
        assert pte_view(pte_clear_pmd_mapped(pte)) == record._replace(pmd=False)
        assert pte_view(pte_wrprotect(pte)) == record._replace(write=False, savedwrite=False)
        assert not pte_write(pte_wrprotect(pte))
        if not record.protnone:
            assert pte_view(pte_mkwrite(pte)) == record._replace(write=True)
        # pte_modify: new protection, the rest kept
        assert pte_view(pte_modify(pte, PAGE_NONE)) == record._replace(
            protnone=True, write=False, savedwrite=False
        )
        assert pte_view(pte_modify(pte, PAGE_READONLY)) == record._replace(
            protnone=False, write=False, savedwrite=False
        )
        protnone = pte_modify(pte, PAGE_NONE)
        assert pte_write(pte_mk_savedwrite(protnone)) and pte_protnone(pte_mk_savedwrite(protnone))


def test_pfn_pte_is_a_young_read_only_mapping() -> None:
    assert pte_view(pfn_pte(5, PAGE_READONLY)) == PresentPte(5)


def test_migration_entries() -> None:
    makers = {
        MIGRATION_READABLE: make_readable_migration_entry,
        MIGRATION_READABLE_EXCLUSIVE: make_readable_exclusive_migration_entry,
        MIGRATION_WRITABLE: make_writable_migration_entry,
    }
    for pfn in PFNS:
        for mode, make in makers.items():
            entry = make(pfn)
            pte = swp_entry_to_pte(entry)
            assert is_swap_pte(pte) and not pte_present(pte) and not is_swap_entry(pte)
            assert is_migration_entry(pte) and non_swap_entry(entry)
            assert pfn_swap_entry_to_pfn(pte) == swp_offset(entry) == pfn
            assert migration_entry_mode(pte) == mode
            assert is_writable_migration_entry(pte) == (mode == MIGRATION_WRITABLE)
            assert is_readable_migration_entry(pte) == (mode == MIGRATION_READABLE)
            assert is_readable_exclusive_migration_entry(pte) == (mode == MIGRATION_READABLE_EXCLUSIVE)
            dirty = pte_swp_mksoft_dirty(pte)
            assert pte_swp_soft_dirty(dirty) and not pte_swp_soft_dirty(pte)
            assert pte_to_swp_entry(dirty) == entry
            assert pte_view(dirty) == MigrationEntry(pfn, mode, True)


def test_swap_entries() -> None:
    for slot in PFNS:
        pte = to_pte_t(SwapEntry(slot))
        assert pte != 0, "slot 0 is not pte_none"
        assert is_swap_pte(pte) and is_swap_entry(pte) and not is_migration_entry(pte)
        assert not non_swap_entry(pte_to_swp_entry(pte))
        assert swp_offset(pte_to_swp_entry(pte)) == slot
        excl = pte_swp_mkexclusive(pte)
        assert pte_swp_exclusive(excl) and not pte_swp_exclusive(pte_swp_clear_exclusive(excl))
        assert pte_to_swp_entry(pte_swp_mksoft_dirty(excl)) == pte_to_swp_entry(pte)


def test_invalid_ptes_are_rejected() -> None:
    savedwrite_only = pte_mk_savedwrite(pfn_pte(3, PAGE_READONLY))
    writable_protnone = pte_mkwrite(pte_modify(pfn_pte(3, PAGE_READONLY), PAGE_NONE))
    exclusive_migration = pte_swp_mkexclusive(make_readable_migration_entry(3))
    for pte in (savedwrite_only, writable_protnone, exclusive_migration, 1 << PAGE_SHIFT):
        assert not pte_is_valid(pte)
        with pytest.raises(ValueError):
            pte_view(pte)


def test_rename_keeps_the_flags() -> None:
    pfns, slots = {7: 2}, {7: 0}
    for record in [*present_records(), *nonpresent_records()]:
        pte = to_pte_t(record)
        if pte >> PAGE_SHIFT != 7:
            continue
        renamed = pte_view(pte_rename(pte, pfns, slots))
        if type(record) is SwapEntry:
            assert renamed == record._replace(slot=0)
        else:
            assert renamed == record._replace(pfn=2)
