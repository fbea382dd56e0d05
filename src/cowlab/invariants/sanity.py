"""The model's own consistency: every unit of refcount and mapcount has an owner.

Read straight from the vector (``cowlab.model.state``), once per distinct state in the
checker and after every step of a replay.
"""

from __future__ import annotations

from cowlab.model import NO_SLOT, ZERO_PFN, Machine
from cowlab.model import state as S
from cowlab.model.pte import (
    is_swap_entry,
    pfn_swap_entry_to_pfn,
    pte_is_valid,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_to_swp_entry,
    swp_offset,
)


def check_sanity(m: Machine) -> list[str]:
    """Problems found (empty when the state is consistent)."""
    problems: list[str] = []
    bounds = m.L.bounds  # type: ignore[attr-defined]

    def used(pfn: int) -> bool:
        return 0 <= pfn < bounds.pages and S.page_in_use(m, pfn)

    def is_head(pfn: int) -> bool:
        return S.PageTransCompound(m, pfn) and S.compound_head(m, pfn) == pfn

    mapped: dict[int, int] = {}
    pmds: dict[int, int] = {}
    swap_users: dict[int, int] = {}
    for pid in range(S.nr_processes(m)):
        name = S.mm_name(m, pid)
        for vpn in S.mapped_vpns(m, pid):
            pte = S.pte_at(m, pid, vpn)
            if not pte_is_valid(pte):
                problems.append(f"{name} vpn {vpn:#x}: invalid PTE {pte:#x}")
                continue
            if pte_present(pte):
                pfn = pte_pfn(pte)
                if not used(pfn):
                    problems.append(f"{name} vpn {vpn:#x} maps freed pfn {pfn}")
                elif pte_pmd_mapped(pte):
                    if is_head(pfn):
                        pmds[pfn] = pmds.get(pfn, 0) + 1
                elif pfn != ZERO_PFN:
                    mapped[pfn] = mapped.get(pfn, 0) + 1
            elif is_swap_entry(pte):
                slot = swp_offset(pte_to_swp_entry(pte))
                if not (0 <= slot < bounds.slots and S.swap_in_use(m, slot)):
                    problems.append(f"{name} vpn {vpn:#x} refers to free swap slot {slot}")
                else:
                    swap_users[slot] = swap_users.get(slot, 0) + 1
            else:  # a migration entry: its page must still exist
                pfn = pfn_swap_entry_to_pfn(pte)
                if not used(pfn):
                    problems.append(f"{name} vpn {vpn:#x} maps freed pfn {pfn}")
    held: dict[int, int] = {}
    pins: dict[int, int] = {}
    for i in range(bounds.refs):
        if not S.ref_in_use(m, i):
            continue
        _, kind, _, _, _, pfn, _, _, refs = S.ref_fields(m, i)
        if not used(pfn):
            problems.append(f"reference {S.ref_name(m, i)} holds freed pfn {pfn}")
        held[pfn] = held.get(pfn, 0) + refs
        if kind == S.REF_PIN:
            pins[pfn] = pins.get(pfn, 0) + 1
    for ti in range(S.nr_threads(m)):
        for depth in range(S.task_depth(m, ti)):
            for pfn in S.frame_holds(m, ti, depth):
                held[pfn] = held.get(pfn, 0) + 1
    for f in range(S.nr_files(m)):  # the page cache holds one reference per page
        for index in range(S.file_nr_pages(m, f)):
            pfn = S.file_page_pfn(m, f, index)
            if not used(pfn):
                problems.append(f"file {S.file_name(m, f)} caches freed pfn {pfn}")
            held[pfn] = held.get(pfn, 0) + 1
    # a THP's counts are its folio's: fold every subpage's owners into the head
    folio_held: dict[int, int] = {}
    folio_pins: dict[int, int] = {}
    in_use = [pfn for pfn in S.pfns_in_use(m) if pfn != ZERO_PFN]
    for pfn in in_use:
        if not S.PageTransCompound(m, pfn):
            continue
        head = S.compound_head(m, pfn)
        if not used(head) or not is_head(head):
            problems.append(f"pfn {pfn}: THP head {head} is not a head")
            continue
        folio_held[head] = folio_held.get(head, 0) + mapped.get(pfn, 0) + held.get(pfn, 0)
        folio_pins[head] = folio_pins.get(head, 0) + pins.get(pfn, 0)
    for pfn in in_use:
        maps = mapped.get(pfn, 0)
        mapcount = S.page_mapcount_raw(m, pfn)
        if mapcount != maps:
            problems.append(f"pfn {pfn}: mapcount {mapcount} but {maps} PTEs map it")
        if S.is_huge_zero_page(m, pfn):
            continue  # like pfn 0, mapped without per-mapping counts
        thp = S.PageTransCompound(m, pfn)
        refcount, pincount = S.page_count(m, pfn), S.folio_pincount(m, pfn)
        compound = S.compound_mapcount(m, pfn)
        if thp and S.compound_head(m, pfn) != pfn:
            if refcount or pincount or compound:
                problems.append(f"pfn {pfn}: THP tail holds counts of its own")
            continue
        if compound != pmds.get(pfn, 0):
            problems.append(f"pfn {pfn}: compound mapcount {compound} but {pmds.get(pfn, 0)} PMDs map it")
        users = folio_held.get(pfn, 0) + pmds.get(pfn, 0) if thp else maps + held.get(pfn, 0)
        slot = S.page_swap_slot(m, pfn)
        batched = S.page_lru_batch(m, pfn) >= 0
        isolated = S.PageIsolated(m, pfn)
        owners = users + (slot != NO_SLOT) + batched + isolated
        if refcount != owners:
            problems.append(f"pfn {pfn}: refcount {refcount} but {owners} owners")
        pinned = folio_pins.get(pfn, 0) if thp else pins.get(pfn, 0)
        if pincount != pinned:
            problems.append(f"pfn {pfn}: {pincount} pins recorded, {pinned} held")
        if slot != NO_SLOT and not (
            0 <= slot < bounds.slots and S.swap_in_use(m, slot) and S.swap_cache_pfn(m, slot) == pfn
        ):
            problems.append(f"pfn {pfn}: in swap cache slot {slot} not pointing back")
        if S.PageLRU(m, pfn) and (isolated or batched):
            problems.append(f"pfn {pfn}: on the LRU and isolated or batched")
    for slot in range(bounds.slots):
        if not S.swap_in_use(m, slot):
            continue
        users = swap_users.get(slot, 0)
        count = S.swap_count(m, slot)
        if count != users:
            problems.append(f"swap slot {slot}: count {count} but {users} PTEs")
        if count == 0 and S.swap_cache_pfn(m, slot) < 0:
            problems.append(f"swap slot {slot}: unused but not freed")
    return problems
