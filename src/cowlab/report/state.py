"""The machine's state as a reader wants it beside a trace: each mapped address's PTE,
each page's counts and flags, each pin and swap slot, one short line per thing, and
what a step changed.

``machine_state`` reads the machine through its record views only (the public face of
the state), so it shows what the model has, not a second bookkeeping.
"""

from __future__ import annotations

from cowlab.model import Machine, MigrationEntry, Page, PresentPte, SwapEntry, pte_view
from cowlab.model.page import NO_CPU, NO_HEAD, NO_SLOT

#: the state after a step: area -> thing -> its description
State = dict[str, dict[str, str]]


def machine_state(m: Machine) -> State:
    """Each area's things, described in a line each."""
    ptes: dict[str, str] = {}
    for proc in m.processes:
        if not proc.alive:
            continue
        for vpn, pte in proc.ptes:
            ptes[f"{proc.name} vpn {vpn:#x}"] = _pte_text(pte)
    pages: dict[str, str] = {}
    for pfn, page in enumerate(m.pages):
        if page is None or pfn == 0:
            continue
        pages[f"pfn {pfn}"] = _page_text(page)
    pins = {
        ref.name: (
            f"{ref.kind} by {ref.holder} on pfn {ref.pfn}"
            f" ({'R/W' if ref.write else 'R/O'}{', long-term' if ref.longterm else ''})"
        )
        for ref in m.refs
    }
    swap = {
        f"slot {i}": f"count {slot.count}"
        + (f", cache pfn {slot.cache}" if slot.cache >= 0 else "")
        + (f", holds #{slot.content}" if slot.content >= 0 else "")
        for i, slot in enumerate(m.swap)
        if slot is not None
    }
    return {"ptes": ptes, "pages": pages, "pins": pins, "swap": swap}


def _pte_text(pte: int) -> str:
    view = pte_view(pte)
    if isinstance(view, PresentPte):
        bits = [
            name
            for name, on in (
                ("write", view.write),
                ("dirty", view.dirty),
                ("young", view.young),
                ("protnone", view.protnone),
                ("savedwrite", view.savedwrite),
                ("PMD", view.pmd),
            )
            if on
        ]
        return f"pfn {view.pfn}" + (f" {' '.join(bits)}" if bits else " read-only")
    if isinstance(view, MigrationEntry):
        return f"{view.mode} {'PMD ' if view.pmd else ''}migration entry for pfn {view.pfn}"
    if isinstance(view, SwapEntry):
        return f"swap slot {view.slot}" + (" exclusive" if view.exclusive else "")
    return "none"


def _page_text(p: Page) -> str:
    words = [f"node {p.node}", f"refcount {p.refcount}", f"mapcount {p.mapcount}"]
    if p.pins:
        words.append(f"pins {p.pins}")
    flags = [
        name
        for name, on in (
            ("anon", p.anon),
            ("anon-exclusive", p.exclusive),
            ("lru", p.lru),
            ("isolated", p.isolated),
            ("locked", p.locked),
            ("hugetlb", p.huge),
            ("in a CPU's LRU batch", p.lru_batch != NO_CPU),
            (f"swap cache slot {p.swapcache}", p.swapcache != NO_SLOT),
            (f"THP of head {p.head}", p.head != NO_HEAD),
        )
        if on
    ]
    return ", ".join(words + flags) + f", holds #{p.content}"


def state_changes(before: State, after: State) -> list[str]:
    """What changed between two states, a line each: ``+`` new, ``-`` gone, ``~`` changed."""
    out: list[str] = []
    for area in after:
        old, new = before.get(area, {}), after[area]
        for thing in new:
            if thing not in old:
                out.append(f"+ {thing}: {new[thing]}")
            elif old[thing] != new[thing]:
                out.append(f"~ {thing}: {_what_changed(old[thing], new[thing])}")
        out.extend(f"- {thing}" for thing in old if thing not in new)
    return out


def _what_changed(old: str, new: str) -> str:
    """Only the parts of a description that changed: ``refcount 2 -> 1, +lru``."""
    before, after = old.split(", "), new.split(", ")
    if len(before) == 1 and len(after) == 1:
        return f"{old} -> {new}"
    was = {_field(p): p for p in before}
    now = {_field(p): p for p in after}
    parts = []
    for k, part in now.items():
        if k not in was:
            parts.append(f"+{part}")
        elif was[k] != part:
            parts.append(f"{was[k]} -> {part.removeprefix(k + ' ')}")
    parts += [f"-{part}" for k, part in was.items() if k not in now]
    return ", ".join(parts)


def _field(part: str) -> str:
    """The name of a counted part (``refcount`` of ``refcount 2``), else the part."""
    words = part.split(" ")
    return words[0] if len(words) == 2 and words[1][:1].isdigit() else part
