"""Canonical state keys: states equal up to the naming of pfns and swap slots share a key.

The kernel allocates the lowest free pfn and slot, so two interleavings that free
and allocate in different orders reach the same memory under different names.  The
canonical form renames pfns and slots in order of first appearance (walking page
tables by pid and vpn, then references by name, then thread frames) and compacts the
free holes.  The queue keeps real states; only visited-set keys are canonical.

Frame locals (NamedTuples) follow a naming convention, since a pfn and a ``pte_t`` are
both plain ints: a field named ``pfn`` holds a pfn, and a field named ``pte`` or ending
in ``_pte`` holds a ``pte_t``, whose pfn is renamed if it is a present PTE or a
migration entry.  A swap entry in frame locals keeps its slot (no frame holds one).
No other field may hold a pfn or a PTE (tests/check/test_canon.py checks the kernel's
frame locals).
"""

from __future__ import annotations

from cowlab.check.keyhash import encode
from cowlab.check.model import CheckState
from cowlab.model import NO_HEAD, NO_PFN, NO_SLOT, ZERO_PFN, Frame, Machine, Page
from cowlab.model.layout import T_NAME
from cowlab.model.pte import (
    is_migration_entry,
    is_swap_entry,
    pte_present,
    pte_rename,
    pte_target,
)
from cowlab.model.state import FlatMachine
from cowlab.model.state.rename import canonical_copy


def _orders(m: Machine) -> tuple[list[int], list[int]]:
    """pfns and slots in order of first appearance (hot path: written flat)."""
    pfns = [ZERO_PFN]
    slots: list[int] = []
    seen_p = {ZERO_PFN}
    seen_s: set[int] = set()
    swap = m.swap
    for proc in m.processes:
        for _, pte in proc.ptes:
            x = pte_target(pte)
            if is_swap_entry(pte):
                if x not in seen_s:
                    seen_s.add(x)
                    slots.append(x)
                    value = swap[x]
                    if value is not None and value.cache != NO_PFN and value.cache not in seen_p:
                        seen_p.add(value.cache)
                        pfns.append(value.cache)
            elif x not in seen_p:
                seen_p.add(x)
                pfns.append(x)
    for f in m.files:
        for x in f.pages:
            if x not in seen_p:
                seen_p.add(x)
                pfns.append(x)
    refs = m.refs
    if len(refs) > 1:
        refs = tuple(sorted(refs, key=_ref_name))
    for ref in refs:
        if ref.pfn not in seen_p:
            seen_p.add(ref.pfn)
            pfns.append(ref.pfn)
    for thread in m.threads:
        for frame in thread.stack:
            for x in _frame_pfns(frame):
                if x not in seen_p:
                    seen_p.add(x)
                    pfns.append(x)
    if len(pfns) < len(m.pages):
        for x, page in enumerate(m.pages):
            if page is not None and x not in seen_p:
                seen_p.add(x)
                pfns.append(x)
    for x in pfns:
        page = m.pages[x]
        if page is not None and page.swapcache != NO_SLOT and page.swapcache not in seen_s:
            seen_s.add(page.swapcache)
            slots.append(page.swapcache)
    if len(slots) < len(swap):
        for x, value in enumerate(swap):
            if value is not None and x not in seen_s:
                seen_s.add(x)
                slots.append(x)
    return pfns, slots


def _ref_name(ref: object) -> str:
    return ref.name  # type: ignore[attr-defined]


def is_pfn_field(name: str) -> bool:
    """Does a frame-locals field of this name hold a pfn?"""
    return name == "pfn"


def is_pte_field(name: str) -> bool:
    """Does a frame-locals field of this name hold a ``pte_t``?"""
    return name == "pte" or name.endswith("_pte")


#: locals type -> (index, holds a pte_t) of each field holding a pfn or a PTE, in order
_ROLES: dict[type, tuple[tuple[int, bool], ...]] = {}


def _roles(loc: object) -> tuple[tuple[int, bool], ...]:
    kind = type(loc)
    roles = _ROLES.get(kind)
    if roles is None:
        fields = getattr(kind, "_fields", ())
        roles = tuple(
            (i, is_pte_field(name))
            for i, name in enumerate(fields)
            if is_pfn_field(name) or is_pte_field(name)
        )
        _ROLES[kind] = roles
    return roles


def _renamed_pte(pte: int) -> bool:
    """A PTE in frame locals whose pfn is renamed: present, or a migration entry."""
    return pte_present(pte) or is_migration_entry(pte)


def _frame_pfns(frame: Frame) -> list[int]:
    out = list(frame.holds)
    loc = frame.locals
    for i, pte in _roles(loc):
        value = loc[i]
        if not pte:
            out.append(value)
        elif _renamed_pte(value):
            out.append(pte_target(value))
    return out


def _remap_frame(frame: Frame, p: dict[int, int]) -> Frame:
    loc = frame.locals
    roles = _roles(loc)
    if roles:
        values = list(loc)
        for i, pte in roles:
            value = values[i]
            if not pte:
                values[i] = p[value]
            elif _renamed_pte(value):
                values[i] = pte_rename(value, p, {})
        loc = loc._make(values)  # type: ignore[attr-defined]
    return frame._replace(locals=loc, holds=tuple(p[x] for x in frame.holds))


def _remap_page(page: Page, p: dict[int, int], s: dict[int, int]) -> Page:
    if page.swapcache != NO_SLOT:
        page = page._replace(swapcache=s[page.swapcache])
    if page.head != NO_HEAD:
        page = page._replace(head=p[page.head])
    return page


def canonical_machine(m: Machine) -> Machine:
    pfns, slots = _orders(m)
    identity = (
        len(pfns) == len(m.pages)
        and pfns == list(range(len(pfns)))
        and len(slots) == len(m.swap)
        and slots == list(range(len(slots)))
        and (len(m.refs) < 2 or list(m.refs) == sorted(m.refs, key=_ref_name))
    )
    if identity:
        return m
    p = {old: new for new, old in enumerate(pfns)}
    s = {old: new for new, old in enumerate(slots)}
    pages = tuple(_remap_page(page, p, s) for page in (m.pages[old] for old in pfns) if page is not None)
    swap = tuple(
        value._replace(cache=p[value.cache]) if value.cache != NO_PFN else value
        for value in (m.swap[old] for old in slots)
        if value is not None
    )
    procs = []
    for proc in m.processes:
        ptes = tuple((vpn, pte_rename(pte, p, s)) for vpn, pte in proc.ptes)
        procs.append(proc._replace(ptes=ptes))
    refs = tuple(r._replace(pfn=p[r.pfn]) for r in sorted(m.refs, key=_ref_name))
    threads = tuple(
        t._replace(stack=tuple(_remap_frame(f, p) for f in t.stack)) if t.stack else t for t in m.threads
    )
    files = tuple(f._replace(pages=tuple(p[x] for x in f.pages)) for f in m.files)
    return m._replace(pages=pages, swap=swap, processes=tuple(procs), refs=refs, threads=threads, files=files)


def canonical(state: CheckState, symmetry: tuple[tuple[str, ...], ...] = ()) -> object:
    """The key under which a state is remembered: pfns and slots renamed, and threads
    of each symmetry class (same process, same program, same affinity) put in a
    canonical order, so that states differing only by which of two interchangeable
    threads did what share a key.  A vector state's key is its renamed vector
    (cowlab.model.state.rename) with the encoding of the spec, the program counters
    and the budgets."""
    if isinstance(state.machine, FlatMachine):
        return _canonical_vector(state, symmetry)
    m = canonical_machine(state.machine)
    if symmetry:
        return _canonical_threads(state._replace(machine=m), symmetry)
    return state if m is state.machine else state._replace(machine=m)


def _canonical_threads(state: CheckState, symmetry: tuple[tuple[str, ...], ...]) -> CheckState:
    m = state.machine
    pcs = dict(state.pcs)
    threads = list(m.threads)
    changed = False
    for names in symmetry:
        positions = [i for i, t in enumerate(threads) if t.name in names]
        if len(positions) < 2:
            continue
        members = sorted((tuple(threads[i][1:]), pcs.get(threads[i].name, 0)) for i in positions)
        ordered = sorted(threads[i].name for i in positions)
        for i, name, (rest, pc) in zip(positions, ordered, members, strict=True):
            new = threads[i]._make((name, *rest))
            if new != threads[i] or pcs.get(name, 0) != pc:
                changed = True
            threads[i] = new
            pcs[name] = pc
    if not changed:
        return state
    return state._replace(machine=m._replace(threads=tuple(threads)), pcs=tuple(sorted(pcs.items())))


def _canonical_vector(state: CheckState, symmetry: tuple[tuple[str, ...], ...]) -> object:
    """The key of a vector state: pfns and slots renamed, then the threads of each
    symmetry class in the order of their words (identifies exactly the states that the
    record form identifies: tests/model/test_rename.py)."""
    m = state.machine
    assert isinstance(m, FlatMachine)
    c = canonical_copy(m)
    pcs = state.pcs
    if symmetry:
        pcs = _sort_symmetric_threads(c, dict(pcs), symmetry)
    return (c.tobytes(), _spec_key(state.spec), pcs, state.budgets)


def _spec_key(spec: object) -> bytes:
    """The encoding (``keyhash.encode``: equal values, equal bytes) of a state's spec.
    A successor mostly carries its parent's spec object, so encodings are kept by the
    object's identity; each entry keeps its object alive, so no identity is reused
    while it is kept."""
    hit = _SPEC_KEYS.get(id(spec))
    if hit is None:
        if len(_SPEC_KEYS) >= _SPEC_KEYS_LIMIT:
            _SPEC_KEYS.clear()
        hit = _SPEC_KEYS[id(spec)] = (spec, encode(spec))
    return hit[1]


_SPEC_KEYS: dict[int, tuple[object, bytes]] = {}
_SPEC_KEYS_LIMIT = 1 << 12


def _sort_symmetric_threads(
    c: FlatMachine, pcs: dict[str, int], symmetry: tuple[tuple[str, ...], ...]
) -> tuple[tuple[str, int], ...]:
    """Put the threads of each class in a canonical order, in place in ``c``; the
    program counters follow their threads."""
    L, v = c.L, c.vector
    name_of = L.symbols.name
    sym = L.symbols.intern
    for names in symmetry:
        positions = [
            ti
            for ti in range(L.bounds.threads)
            if v[L.thread(ti) + T_NAME] and name_of(v[L.thread(ti) + T_NAME]) in names
        ]
        if len(positions) < 2:
            continue
        members = []
        for ti in positions:
            base = L.thread(ti)
            words = v[base : base + L.thread_words]
            members.append((tuple(words[T_NAME + 1 :]), pcs.get(name_of(words[T_NAME]), 0)))
        members.sort()
        ordered = sorted(name_of(v[L.thread(ti) + T_NAME]) for ti in positions)
        for ti, name, (rest, pc) in zip(positions, ordered, members, strict=True):
            base = L.thread(ti)
            v[base + T_NAME] = sym(name)
            for i, word in enumerate(rest, start=T_NAME + 1):  # in place: v's buffer is shared
                v[base + i] = word
            pcs[name] = pc
    return tuple(sorted(pcs.items()))
