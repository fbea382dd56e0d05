"""Renaming pfns and swap slots in a vector state: the checker's canonical form.

The kernel allocates the lowest free pfn and slot, so two interleavings that free and
allocate in different orders reach the same memory under different names.  The
canonical form names pfns and slots in order of first appearance (page tables by pid
and vpn, then the files' page caches, then references by name, then the threads'
frames, then whatever else is allocated) and compacts free holes; it identifies
exactly the states that ``cowlab.check.canon`` identifies on records.  Every word that
holds a pfn or a slot is known from the layout: a pte_t's target, a THP head, a
swap-cache page's slot, a slot's cache page, a reference's page, a file's pages, the
pages a frame holds and its locals named ``pfn`` or holding a pte_t.
"""

from __future__ import annotations

import functools
from array import array

from cowlab.model.layout import (
    F_LOCALS_KIND,
    F_NHOLDS,
    FILE_FIXED_WORDS,
    FILE_NPAGES,
    FRAME_FIXED_WORDS,
    PAGE_WORDS,
    PG_HEAD,
    PG_PRIVATE,
    R_KIND,
    R_NAME,
    R_PFN,
    REF_WORDS,
    S_CACHE,
    S_IN_USE,
    SLOT_WORDS,
    T_DEPTH,
)
from cowlab.model.page import NO_HEAD, NO_SLOT, ZERO_PFN
from cowlab.model.pte import is_swap_entry, pte_rename, pte_target
from cowlab.model.state.convert import INTS, PTE, frame_schema
from cowlab.model.state.machine import NO_PFN, FlatMachine, nr_files, nr_processes, nr_threads
from cowlab.model.state.page import free_pfn, pfns_in_use
from cowlab.model.state.swap import free_swap_slot


def _pte_words(m: FlatMachine, pid: int) -> range:
    base = m.L.process(pid) + m.L.proc_ptes
    return range(base, base + m.L.bounds.vpns)


def _frame_word_kinds(m: FlatMachine, kind_sym: int) -> tuple[str, ...]:
    """Per locals word: "pfn", "pte" or "" (anything else)."""
    return _word_kinds(frame_schema(m.L, kind_sym))


@functools.cache
def _word_kinds(schema: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    out: list[str] = []
    for name, kind in schema:
        if kind == INTS:
            break  # a variable list ends the renamed words (fork's vpns: none are pfns)
        out.append("pte" if kind == PTE else "pfn" if name == "pfn" else "")
    return tuple(out)


def _frames(m: FlatMachine) -> list[int]:
    """Base offsets of every live frame, thread by thread, outermost first."""
    out = []
    for ti in range(nr_threads(m)):
        depth = m.vector[m.L.thread(ti) + T_DEPTH]
        out += [m.L.frame(ti, d) for d in range(depth)]
    return out


def _refs_by_name(m: FlatMachine) -> list[int]:
    v, name = m.vector, m.L.symbols.name
    used = [m.L.ref(i) for i in range(m.L.bounds.refs) if v[m.L.ref(i) + R_KIND]]
    return sorted(used, key=lambda base: name(v[base + R_NAME]))


def first_appearance(m: FlatMachine) -> tuple[list[int], list[int]]:
    """pfns and slots in order of first appearance.

    The scans index the vector with integer locals and no closures, so that compiled
    (rename.pxd) they run as C loops: this runs once per successor state."""
    v, L = m.v, m.L
    pfns, slots = [ZERO_PFN], []
    seen_p, seen_s = {ZERO_PFN}, set()
    found = []  # pfns in the order they are met, before deduplication
    for pid in range(nr_processes(m)):
        base = L.process(pid) + L.proc_ptes
        for at in range(base, base + L.nr_vpns):
            pte = v[at]
            if not pte:
                continue
            x = pte_target(pte)
            if not is_swap_entry(pte):
                found.append(x)
            elif x not in seen_s:
                seen_s.add(x)
                slots.append(x)
                cache = v[L.slot(x) + S_CACHE]
                if v[L.slot(x) + S_IN_USE] and cache != NO_PFN:
                    found.append(cache)
    for i in range(nr_files(m)):
        base = L.file(i)
        for j in range(v[base + FILE_NPAGES]):
            found.append(v[base + FILE_FIXED_WORDS + j])
    for base in _refs_by_name(m):
        found.append(v[base + R_PFN])
    for base in _frames(m):
        for i in range(v[base + F_NHOLDS]):
            found.append(v[base + FRAME_FIXED_WORDS + i])
        at = base + FRAME_FIXED_WORDS + L.nr_holds
        for i, kind in enumerate(_frame_word_kinds(m, v[base + F_LOCALS_KIND])):
            if kind == "pfn":
                found.append(v[at + i])
            elif kind == "pte" and v[at + i] and not is_swap_entry(v[at + i]):
                found.append(pte_target(v[at + i]))
    found += pfns_in_use(m)
    for x in found:
        if x not in seen_p:
            seen_p.add(x)
            pfns.append(x)
    for x in pfns:
        slot = v[L.page(x) + PG_PRIVATE]
        if slot != NO_SLOT and slot not in seen_s:
            seen_s.add(slot)
            slots.append(slot)
    for slot in range(L.nr_slots):
        if v[L.slot(slot) + S_IN_USE] and slot not in seen_s:
            seen_s.add(slot)
            slots.append(slot)
    return pfns, slots


def _is_identity(m: FlatMachine, pfns: list[int], slots: list[int]) -> bool:
    """Already canonical: pfns and slots named 0, 1, ... in order of first appearance
    (so no holes), and the references in the first entries in name order."""
    if any(x != i for i, x in enumerate(pfns)) or any(x != i for i, x in enumerate(slots)):
        return False
    refs = [m.L.ref(i) for i in range(m.L.bounds.refs) if m.vector[m.L.ref(i) + R_KIND]]
    return refs == [m.L.ref(i) for i in range(len(refs))] and refs == _refs_by_name(m)


def renamed(m: FlatMachine, pfns: list[int], slots: list[int]) -> FlatMachine:
    """A copy of ``m`` in which pfn ``pfns[i]`` is called ``i`` and slot ``slots[i]``
    is called ``i``, with page and slot records moved to their new names and the
    references in name order (word by word, so that compiled it is C loops)."""
    L = m.L
    if _is_identity(m, pfns, slots):
        return m
    c = FlatMachine(L, m.vector[:])
    old, new = m.v, c.v
    p = {x: i for i, x in enumerate(pfns)}
    s = {x: i for i, x in enumerate(slots)}
    p[NO_PFN] = NO_PFN
    # pages: records move; their head and swap slot are renamed
    for pfn in range(L.nr_pages):
        free_pfn(c, pfn)
    for i in range(len(pfns)):
        src, dst = L.page(pfns[i]), L.page(i)
        _copy_words(old, new, src, dst, PAGE_WORDS)
        head, slot = old[src + PG_HEAD], old[src + PG_PRIVATE]
        new[dst + PG_HEAD] = NO_HEAD if head == NO_HEAD else p[head]
        new[dst + PG_PRIVATE] = NO_SLOT if slot == NO_SLOT else s[slot]
    # swap slots: records move; their cache page is renamed
    for slot in range(L.nr_slots):
        free_swap_slot(c, slot)
    for i in range(len(slots)):
        src, dst = L.slot(slots[i]), L.slot(i)
        _copy_words(old, new, src, dst, SLOT_WORDS)
        new[dst + S_CACHE] = p[old[src + S_CACHE]]
    # page tables
    for pid in range(nr_processes(m)):
        base = L.process(pid) + L.proc_ptes
        for at in range(base, base + L.nr_vpns):
            if old[at]:
                new[at] = pte_rename(old[at], p, s)
    # references, in name order
    named = _refs_by_name(m)
    for i in range(L.nr_refs):
        dst = L.ref(i)
        if i < len(named):
            src = named[i]
            _copy_words(old, new, src, dst, REF_WORDS)
            new[dst + R_PFN] = p[old[src + R_PFN]]
        else:
            for j in range(REF_WORDS):
                new[dst + j] = 0
    # files
    for f in range(nr_files(m)):
        base = L.file(f)
        for j in range(old[base + FILE_NPAGES]):
            new[base + FILE_FIXED_WORDS + j] = p[old[base + FILE_FIXED_WORDS + j]]
    # frames
    for base in _frames(m):
        for i in range(old[base + F_NHOLDS]):
            new[base + FRAME_FIXED_WORDS + i] = p[old[base + FRAME_FIXED_WORDS + i]]
        at = base + FRAME_FIXED_WORDS + L.nr_holds
        for i, kind in enumerate(_frame_word_kinds(m, old[base + F_LOCALS_KIND])):
            if kind == "pfn":
                new[at + i] = p[old[at + i]]
            elif kind == "pte" and old[at + i] and not is_swap_entry(old[at + i]):
                new[at + i] = pte_rename(old[at + i], p, s)
    return c


def _copy_words(old: array, new: array, src: int, dst: int, n: int) -> None:
    """A record's ``n`` words from ``old`` at ``src`` to ``new`` at ``dst``."""
    for j in range(n):
        new[dst + j] = old[src + j]
