"""The model's own consistency: every unit of refcount and mapcount has an owner."""

from __future__ import annotations

from collections import Counter

from cowlab.model import ZERO_PFN, Machine, MigrationEntry, PresentPte, SwapEntry


def check_sanity(m: Machine) -> list[str]:
    """Problems found (empty when the state is consistent)."""
    problems: list[str] = []
    mapped: Counter[int] = Counter()
    swap_users: Counter[int] = Counter()
    for proc in m.processes:
        for vpn, pte in proc.ptes:
            if type(pte) is PresentPte or type(pte) is MigrationEntry:
                if pte.pfn >= len(m.pages) or m.pages[pte.pfn] is None:
                    problems.append(f"{proc.name} vpn {vpn:#x} maps freed pfn {pte.pfn}")
                elif type(pte) is PresentPte and pte.pfn != ZERO_PFN:
                    mapped[pte.pfn] += 1
            elif type(pte) is SwapEntry:
                if pte.slot >= len(m.swap) or m.swap[pte.slot] is None:
                    problems.append(f"{proc.name} vpn {vpn:#x} refers to free swap slot {pte.slot}")
                else:
                    swap_users[pte.slot] += 1
    held: Counter[int] = Counter()
    for ref in m.refs:
        if ref.pfn >= len(m.pages) or m.pages[ref.pfn] is None:
            problems.append(f"reference {ref.name} holds freed pfn {ref.pfn}")
        held[ref.pfn] += ref.refs
    pins = Counter(ref.pfn for ref in m.refs if ref.kind == "pin")
    for thread in m.threads:
        for frame in thread.stack:
            for pfn in frame.holds:
                held[pfn] += 1
    for pfn, page in enumerate(m.pages):
        if page is None or pfn == ZERO_PFN:
            continue
        if page.mapcount != mapped[pfn]:
            problems.append(f"pfn {pfn}: mapcount {page.mapcount} but {mapped[pfn]} PTEs map it")
        owners = (mapped[pfn] + int(page.in_swapcache) + int(page.in_lru_batch)
                  + int(page.isolated) + held[pfn])
        if page.refcount != owners:
            problems.append(f"pfn {pfn}: refcount {page.refcount} but {owners} owners")
        if page.pins != pins[pfn]:
            problems.append(f"pfn {pfn}: {page.pins} pins recorded, {pins[pfn]} held")
        if page.in_swapcache:
            slot = m.swap[page.swapcache] if page.swapcache < len(m.swap) else None
            if slot is None or slot.cache != pfn:
                problems.append(f"pfn {pfn}: in swap cache slot {page.swapcache} not pointing back")
        if page.lru and (page.isolated or page.in_lru_batch):
            problems.append(f"pfn {pfn}: on the LRU and isolated or batched")
    for slot, value in enumerate(m.swap):
        if value is None:
            continue
        if value.count != swap_users[slot]:
            problems.append(f"swap slot {slot}: count {value.count} but {swap_users[slot]} PTEs")
        if value.count == 0 and value.cache < 0:
            problems.append(f"swap slot {slot}: unused but not freed")
    return problems
