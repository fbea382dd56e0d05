"""The model's own consistency: every unit of refcount and mapcount has an owner."""

from __future__ import annotations

from cowlab.model import NO_HEAD, NO_SLOT, ZERO_PFN, Machine
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
    pages = m.pages
    npages = len(pages)
    swap = m.swap
    mapped: dict[int, int] = {}
    pmds: dict[int, int] = {}
    swap_users: dict[int, int] = {}
    for proc in m.processes:
        for vpn, pte in proc.ptes:
            if not pte_is_valid(pte):
                problems.append(f"{proc.name} vpn {vpn:#x}: invalid PTE {pte:#x}")
                continue
            if pte_present(pte):
                pfn = pte_pfn(pte)
                if pfn >= npages or pages[pfn] is None:
                    problems.append(f"{proc.name} vpn {vpn:#x} maps freed pfn {pfn}")
                elif pte_pmd_mapped(pte):
                    if pfn == pages[pfn].head:  # type: ignore[union-attr]
                        pmds[pfn] = pmds.get(pfn, 0) + 1
                elif pfn != ZERO_PFN:
                    mapped[pfn] = mapped.get(pfn, 0) + 1
            elif is_swap_entry(pte):
                slot = swp_offset(pte_to_swp_entry(pte))
                if slot >= len(swap) or swap[slot] is None:
                    problems.append(f"{proc.name} vpn {vpn:#x} refers to free swap slot {slot}")
                else:
                    swap_users[slot] = swap_users.get(slot, 0) + 1
            else:  # a migration entry: its page must still exist
                pfn = pfn_swap_entry_to_pfn(pte)
                if pfn >= npages or pages[pfn] is None:
                    problems.append(f"{proc.name} vpn {vpn:#x} maps freed pfn {pfn}")
    held: dict[int, int] = {}
    pins: dict[int, int] = {}
    for ref in m.refs:
        if ref.pfn >= npages or pages[ref.pfn] is None:
            problems.append(f"reference {ref.name} holds freed pfn {ref.pfn}")
        held[ref.pfn] = held.get(ref.pfn, 0) + ref.refs
        if ref.kind == "pin":
            pins[ref.pfn] = pins.get(ref.pfn, 0) + 1
    for thread in m.threads:
        for frame in thread.stack:
            for pfn in frame.holds:
                held[pfn] = held.get(pfn, 0) + 1
    for f in m.files:  # the page cache holds one reference per page
        for pfn in f.pages:
            if pfn >= npages or pages[pfn] is None:
                problems.append(f"file {f.name} caches freed pfn {pfn}")
            held[pfn] = held.get(pfn, 0) + 1
    # a THP's counts are its folio's: fold every subpage's owners into the head
    folio_held: dict[int, int] = {}
    folio_pins: dict[int, int] = {}
    for pfn in range(1, npages):
        page = pages[pfn]
        if page is None or page.head == NO_HEAD:
            continue
        head = page.head
        if head >= npages or pages[head] is None or pages[head].head != head:  # type: ignore[union-attr]
            problems.append(f"pfn {pfn}: THP head {head} is not a head")
            continue
        folio_held[head] = folio_held.get(head, 0) + mapped.get(pfn, 0) + held.get(pfn, 0)
        folio_pins[head] = folio_pins.get(head, 0) + pins.get(pfn, 0)
    for pfn in range(1, npages):
        page = pages[pfn]
        if page is None:
            continue
        maps = mapped.get(pfn, 0)
        if page.mapcount != maps:
            problems.append(f"pfn {pfn}: mapcount {page.mapcount} but {maps} PTEs map it")
        if page.huge_zero:
            continue  # like pfn 0, mapped without per-mapping counts
        thp = page.head != NO_HEAD
        if thp and page.head != pfn:
            if page.refcount or page.pins or page.compound_mapcount:
                problems.append(f"pfn {pfn}: THP tail holds counts of its own")
            continue
        if page.compound_mapcount != pmds.get(pfn, 0):
            problems.append(f"pfn {pfn}: compound mapcount {page.compound_mapcount} but "
                            f"{pmds.get(pfn, 0)} PMDs map it")
        users = folio_held.get(pfn, 0) + pmds.get(pfn, 0) if thp else maps + held.get(pfn, 0)
        owners = (users + (page.swapcache != NO_SLOT) + (page.lru_batch >= 0) + page.isolated)
        if page.refcount != owners:
            problems.append(f"pfn {pfn}: refcount {page.refcount} but {owners} owners")
        pinned = folio_pins.get(pfn, 0) if thp else pins.get(pfn, 0)
        if page.pins != pinned:
            problems.append(f"pfn {pfn}: {page.pins} pins recorded, {pinned} held")
        if page.swapcache != NO_SLOT:
            slot = swap[page.swapcache] if page.swapcache < len(swap) else None
            if slot is None or slot.cache != pfn:
                problems.append(f"pfn {pfn}: in swap cache slot {page.swapcache} not pointing back")
        if page.lru and (page.isolated or page.lru_batch >= 0):
            problems.append(f"pfn {pfn}: on the LRU and isolated or batched")
    for slot, value in enumerate(swap):
        if value is None:
            continue
        users = swap_users.get(slot, 0)
        if value.count != users:
            problems.append(f"swap slot {slot}: count {value.count} but {users} PTEs")
        if value.count == 0 and value.cache < 0:
            problems.append(f"swap slot {slot}: unused but not freed")
    return problems
