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
from cowlab.model.pte import is_swap_entry, pte_retarget, pte_target
from cowlab.model.state.convert import INTS, PTE, frame_schema
from cowlab.model.state.machine import NO_PFN, FlatMachine, nr_files, nr_processes, nr_threads
from cowlab.model.state.page import free_pfn, page_in_use
from cowlab.model.state.swap import free_swap_slot

#: what a word of frame locals holds, as far as renaming is concerned
WORD_OTHER, WORD_PFN, WORD_PTE = 0, 1, 2
#: a pfn or slot not named yet
UNNAMED = -1


def _frame_word_kinds(m: FlatMachine, kind_sym: int) -> bytes:
    """Per locals word: WORD_PFN, WORD_PTE or WORD_OTHER (a symbol names one schema in
    every layout, so the answer is kept by symbol)."""
    kinds = _KINDS_BY_SYMBOL.get(kind_sym)
    if kinds is None:
        kinds = _KINDS_BY_SYMBOL[kind_sym] = _word_kinds(frame_schema(m.L, kind_sym))
    return kinds


_KINDS_BY_SYMBOL: dict[int, bytes] = {}


@functools.cache
def _word_kinds(schema: tuple[tuple[str, str], ...]) -> bytes:
    out: list[int] = []
    for name, kind in schema:
        if kind == INTS:
            break  # a variable list ends the renamed words (fork's vpns: none are pfns)
        out.append(WORD_PTE if kind == PTE else WORD_PFN if name == "pfn" else WORD_OTHER)
    return bytes(out)


def _frames(m: FlatMachine) -> list[int]:
    """Base offsets of every live frame, thread by thread, outermost first."""
    out = []
    for ti in range(nr_threads(m)):
        depth = m.v[m.L.thread(ti) + T_DEPTH]
        for d in range(depth):
            out.append(m.L.frame(ti, d))
    return out


def frame_pfns(m: FlatMachine) -> list[int]:
    """The pfns the threads' kernel frames hold or name in their locals (a ``pfn``
    field, or the target of a pte_t that is not a swap entry), live or stale, frame by
    frame in order: the canonical form meets them in this order."""
    v = m.v
    L = m.L
    out: list[int] = []
    for base in _frames(m):
        for i in range(v[base + F_NHOLDS]):
            out.append(v[base + FRAME_FIXED_WORDS + i])
        at = base + FRAME_FIXED_WORDS + L.nr_holds
        kinds = _frame_word_kinds(m, v[base + F_LOCALS_KIND])
        for i in range(len(kinds)):
            word = v[at + i]
            if kinds[i] == WORD_PFN:
                out.append(word)
            elif kinds[i] == WORD_PTE and word and not is_swap_entry(word):
                out.append(pte_target(word))
    return out


def _refs_by_name(m: FlatMachine) -> list[int]:
    """Base offsets of the references in use, in the order of their names."""
    v, L = m.v, m.L
    used = []
    for i in range(L.nr_refs):
        if v[L.ref(i) + R_KIND]:
            used.append(L.ref(i))
    if len(used) < 2:
        return used
    named = []
    for i in range(len(used)):
        named.append((L.symbols.name(v[used[i] + R_NAME]), used[i]))
    named.sort()
    return [base for _, base in named]


def _unnamed(n: int) -> array[int]:
    return array("i", [UNNAMED]) * n


def _meet(names: array[int], order: array[int], count: int, x: int) -> int:
    """``x`` met: it is named ``count`` unless it has a name already; the new count."""
    if not 0 <= x < len(names):
        raise ValueError(f"renaming met {x}, not a name below {len(names)}")
    if names[x] != UNNAMED:
        return count
    names[x] = count
    order[count] = x
    return count + 1


def first_appearance(m: FlatMachine) -> tuple[array[int], array[int]]:
    """pfns and slots in order of first appearance."""
    L = m.L
    pfn_names, pfns = _unnamed(L.nr_pages), _unnamed(L.nr_pages)
    slot_names, slots = _unnamed(L.nr_slots), _unnamed(L.nr_slots)
    np, ns = _meet_every_name(m, pfn_names, pfns, slot_names, slots)
    return pfns[:np], slots[:ns]


def canonical_copy(m: FlatMachine) -> FlatMachine:
    """``renamed(m, *first_appearance(m))``, with the names kept in one buffer of typed
    views rather than built into objects: this runs once per successor state."""
    L = m.L
    np, ns = L.nr_pages, L.nr_slots
    names = _unnamed(2 * (np + ns))
    pfn_names, pfns = names[0:np], names[np : 2 * np]
    slot_names, slots = names[2 * np : 2 * np + ns], names[2 * np + ns : 2 * (np + ns)]
    np, ns = _meet_every_name(m, pfn_names, pfns, slot_names, slots)
    if _is_identity(m, pfns[:np], slots[:ns]):
        return m
    return _renamed_by(m, pfn_names, pfns[:np], slot_names, slots[:ns])


def _meet_every_name(
    m: FlatMachine, pfn_names: array[int], pfns: array[int], slot_names: array[int], slots: array[int]
) -> tuple[int, int]:
    """Meet every pfn and slot in order of first appearance, naming them in
    ``pfn_names`` and ``slot_names`` and listing them in ``pfns`` and ``slots``; how
    many of each were met.  Each name is met through ``_meet`` on arrays indexed by pfn
    and slot, so that compiled (rename.pxd) this is C loops."""
    v, L = m.v, m.L
    np = _meet(pfn_names, pfns, 0, ZERO_PFN)
    ns = 0
    for pid in range(nr_processes(m)):
        base = L.process(pid) + L.proc_ptes
        for at in range(base, base + L.nr_vpns):
            pte = v[at]
            if not pte:
                continue
            x = pte_target(pte)
            if not is_swap_entry(pte):
                np = _meet(pfn_names, pfns, np, x)
            elif slot_names[x] == UNNAMED:
                ns = _meet(slot_names, slots, ns, x)
                cache = v[L.slot(x) + S_CACHE]
                if v[L.slot(x) + S_IN_USE] and cache != NO_PFN:
                    np = _meet(pfn_names, pfns, np, cache)
    for i in range(nr_files(m)):
        base = L.file(i)
        for j in range(v[base + FILE_NPAGES]):
            np = _meet(pfn_names, pfns, np, v[base + FILE_FIXED_WORDS + j])
    for base in _refs_by_name(m):
        np = _meet(pfn_names, pfns, np, v[base + R_PFN])
    for pfn in frame_pfns(m):
        np = _meet(pfn_names, pfns, np, pfn)
    for pfn in range(L.nr_pages):
        if page_in_use(m, pfn):
            np = _meet(pfn_names, pfns, np, pfn)
    for i in range(np):
        slot = v[L.page(pfns[i]) + PG_PRIVATE]
        if slot != NO_SLOT:
            ns = _meet(slot_names, slots, ns, slot)
    for slot in range(L.nr_slots):
        if v[L.slot(slot) + S_IN_USE]:
            ns = _meet(slot_names, slots, ns, slot)
    return np, ns


def _is_identity(m: FlatMachine, pfns: array[int], slots: array[int]) -> bool:
    """Already canonical: pfns and slots named 0, 1, ... in order of first appearance
    (so no holes), and the references in the first entries in name order."""
    for i in range(len(pfns)):
        if pfns[i] != i:
            return False
    for i in range(len(slots)):
        if slots[i] != i:
            return False
    refs = _refs_by_name(m)
    for i in range(len(refs)):  # noqa: SIM110 (a loop: compiled, all() would build a generator)
        if refs[i] != m.L.ref(i):
            return False
    return True


def _names_of(order: array[int], n: int) -> array[int]:
    """The new name of each of ``n`` old names (UNNAMED for those not in ``order``)."""
    names = _unnamed(n)
    for i in range(len(order)):
        names[order[i]] = i
    return names


def _renamed_pfn(p: array[int], pfn: int) -> int:
    return NO_PFN if pfn == NO_PFN else p[pfn]


def _renamed_pte(pte: int, p: array[int], s: array[int]) -> int:
    return pte_retarget(pte, s[pte_target(pte)] if is_swap_entry(pte) else p[pte_target(pte)])


def renamed(m: FlatMachine, pfns: array[int], slots: array[int]) -> FlatMachine:
    """A copy of ``m`` in which pfn ``pfns[i]`` is called ``i`` and slot ``slots[i]``
    is called ``i``, with page and slot records moved to their new names and the
    references in name order (word by word, so that compiled it is C loops)."""
    if _is_identity(m, pfns, slots):
        return m
    return _renamed_by(m, _names_of(pfns, m.L.nr_pages), pfns, _names_of(slots, m.L.nr_slots), slots)


def _renamed_by(
    m: FlatMachine, p: array[int], pfns: array[int], s: array[int], slots: array[int]
) -> FlatMachine:
    """``renamed`` with the new name of each old pfn and slot given (``p``, ``s``)."""
    L = m.L
    c = FlatMachine(L, m.vector[:])
    old, new = m.v, c.v
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
        new[dst + S_CACHE] = _renamed_pfn(p, old[src + S_CACHE])
    # page tables
    for pid in range(nr_processes(m)):
        base = L.process(pid) + L.proc_ptes
        for at in range(base, base + L.nr_vpns):
            if old[at]:
                new[at] = _renamed_pte(old[at], p, s)
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
        kinds = _frame_word_kinds(m, old[base + F_LOCALS_KIND])
        for i in range(len(kinds)):
            word = old[at + i]
            if kinds[i] == WORD_PFN:
                new[at + i] = p[word]
            elif kinds[i] == WORD_PTE and word and not is_swap_entry(word):
                new[at + i] = _renamed_pte(word, p, s)
    return c


def _copy_words(old: array[int], new: array[int], src: int, dst: int, n: int) -> None:
    """A record's ``n`` words from ``old`` at ``src`` to ``new`` at ``dst``."""
    for j in range(n):
        new[dst + j] = old[src + j]
