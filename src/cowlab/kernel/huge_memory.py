"""Transparent huge pages (mm/huge_memory.c): PMD faults, the PMD write fault
(do_huge_pmd_wp_page), PMD splits, zap and fork of a PMD, and folio splits.

A THP is ``HPAGE_NR`` subpages (``Page.head``); a PMD mapping is the aligned group of
``HPAGE_NR`` present PTEs marked ``pte_pmd_mapped``.  The folio's refcount holds
one reference per PMD and one per PTE mapping a subpage; ``compound_mapcount`` on the
head counts PMDs.  Rules by version, each from the section of the project's reference
named after it:

- do_huge_pmd_wp_page: up to v5.7 reuse iff the THP's map+swap count is 1 (v4.9-v4.13
  page_trans_huge_mapcount(), from ba3c4ce6def4 (v4.14) reuse_swap_page() under the
  page lock: the same count here, as a THP is never in the swap cache in the model; GUP
  references ignored), else copy the whole huge page; 3917c80280c9 "thp: change CoW
  semantics for anon-THP" (v5.8) reuse iff reuse_swap_page(), else split the PMD and
  let the PTE fault (do_wp_page) decide; 3bff7e3f1f16 "mm/huge_memory: streamline COW
  logic in do_huge_pmd_wp_page()" (v5.18) reuse iff page_count() == 1; 6c287605fd56
  (v5.19) reuse a PageAnonExclusive THP at once
  (docs/reference/kernel-behaviour.md#write-fault-on-a-pmd-mapped-thp).
- copy_huge_pmd (fork): d042035eaf5f "mm/thp: Split huge pmds/puds if they're pinned
  when fork()" (v5.9) splits a maybe-pinned PMD so that the PTE early COW applies
  (docs/reference/kernel-behaviour.md#fork-and-pinned-pages).
- GUP (follow_trans_huge_pmd): 8310d48b125d "mm/huge_memory.c: respect FOLL_FORCE/
  FOLL_COW for thp" (v4.10) lets a forced write accept a dirty R/O PMD; touch_pmd()
  dirtied the PMD on any GUP until a8f97366452e "mm, thp: do not make page table dirty
  unconditionally in touch_p[mu]d()" (v4.15, CVE-2017-1000405)
  (docs/reference/kernel-behaviour.md#gup-forced-writes).

Only THP enabled by MADV_HUGEPAGE is modeled (sysfs "enabled=madvise"); NUMA
balancing and migration of THPs, khugepaged and THP swap-in are not (the NUMA
scanner skips THPs, reclaim splits them first).
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.kernel.lru import lru_add_drain
from cowlab.kernel.pages import folio_pages, folio_total_mapcount, get_page, page_remove_rmap, put_page
from cowlab.kernel.pgtable import maybe_mkwrite, rmap_present
from cowlab.model import HPAGE_NR, NO_HEAD, ZERO_PFN, Process, Vma
from cowlab.model import state as S
from cowlab.model.pte import (
    PAGE_READONLY,
    pfn_pte,
    pte_clear_pmd_mapped,
    pte_dirty,
    pte_mkclean,
    pte_mkdirty,
    pte_mkold,
    pte_mkpmd_mapped,
    pte_mksoft_dirty,
    pte_mkwrite,
    pte_mkyoung,
    pte_none,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_t,
    pte_write,
    pte_wrprotect,
    pte_young,
)
from cowlab.model.state import FlatMachine
from cowlab.model.state.convert import vma_at


def pmd_base(vpn: int) -> int:
    """The first vpn of the PMD-sized range holding ``vpn``."""
    return vpn - vpn % HPAGE_NR


def pmd_trans_huge(pte: pte_t) -> bool:
    """A present entry of a PMD mapping."""
    return pte_present(pte) and pte_pmd_mapped(pte)


def pmd_group(m: FlatMachine, pid: int, base: int) -> list[tuple[int, pte_t]]:
    """The PTEs of the PMD mapping at ``base``, in vpn order."""
    group = []
    for vpn in range(base, base + HPAGE_NR):
        pte = S.pte_at(m, pid, vpn)
        if pmd_trans_huge(pte):
            group.append((vpn, pte))
    return group


def pmd_none(m: FlatMachine, pid: int, base: int) -> bool:
    """No PMD and no page table of PTEs at ``base``."""
    if S.pmd_has_pte_table(m, pid, base):
        return False
    return not any(S.pte_at(m, pid, vpn) for vpn in range(base, base + HPAGE_NR))


def free_pgtables(m: FlatMachine, pid: int) -> None:
    """free_pgtables(): the page tables of PTEs that no longer serve a VMA go."""
    for base in list(S.pmd_pte_tables(m, pid)):
        if not any(
            S.vma_start(m, pid, slot) < base + HPAGE_NR and base < S.vma_end(m, pid, slot)
            for slot in range(S.nr_vmas(m, pid))
        ):
            S.set_pmd_pte_table(m, pid, base, False)


def thp_suitable(proc: Process, vma: Vma, vpn: int) -> bool:
    """transhuge_vma_suitable() && pmd_none(): may a fault at ``vpn`` map a THP?  (On a
    process record, for callers not yet on the vector: see transhuge_vma_suitable.)"""
    base = pmd_base(vpn)
    return (
        vma.thp_enabled
        and vma.start <= base
        and base + HPAGE_NR <= vma.end
        and base not in proc.pte_tables
        and not any(base <= key < base + HPAGE_NR for key, _ in proc.ptes)
    )


def transhuge_vma_suitable(m: FlatMachine, pid: int, vma: Vma, vpn: int) -> bool:
    """transhuge_vma_suitable() && pmd_none(): may a fault at ``vpn`` map a THP?"""
    base = pmd_base(vpn)
    return vma.thp_enabled and vma.start <= base and base + HPAGE_NR <= vma.end and pmd_none(m, pid, base)


def new_folio(
    m: FlatMachine,
    node: int,
    contents: tuple[int, ...],
    *,
    anon: bool = True,
    exclusive: bool = False,
    huge_zero: bool = False,
    pmd_mapped: bool = True,
) -> list[int]:
    """HPAGE_NR new pages forming one THP, head first.  The head holds one reference,
    and with ``pmd_mapped`` it is the PMD's, with its map (the huge zero page keeps no
    per-mapping counts)."""
    head = S.alloc_pfn(m)
    S.init_page(
        m,
        head,
        node=node,
        content=contents[0],
        refcount=0 if huge_zero else 1,
        anon=anon,
        lru=anon,
        huge_zero=huge_zero,
    )
    if pmd_mapped and not huge_zero:
        S.compound_mapcount_add(m, head, 1)
    if exclusive:
        S.SetPageAnonExclusive(m, head)
    S.set_compound_head(m, head, head)
    pfns = [head]
    for content in contents[1:]:
        pfn = S.alloc_pfn(m)
        S.init_page(m, pfn, node=node, content=content, refcount=0, anon=anon, huge_zero=huge_zero)
        if exclusive:
            S.SetPageAnonExclusive(m, pfn)
        S.set_compound_head(m, pfn, head)
        pfns.append(pfn)
    return pfns


def _map_pmd(
    m: FlatMachine, pid: int, base: int, pfns: list[int], *, write: bool = False, dirty: bool = False
) -> None:
    """set_pmd_at() of a PMD mapping the THP ``pfns``: young, writable if ``write``;
    ``dirty`` marks it dirty and soft-dirty."""
    for i, pfn in enumerate(pfns):
        pte = pte_mkpmd_mapped(pfn_pte(pfn, PAGE_READONLY))
        if write:
            pte = pte_mkwrite(pte)
        if dirty:
            pte = pte_mksoft_dirty(pte_mkdirty(pte))
        S.set_pte_at(m, pid, base + i, pte)


def pmd_mkyoung(m: FlatMachine, pid: int, vpn: int, *, dirty: bool) -> tuple[FlatMachine, bool]:
    """Mark every PTE of the PMD at ``vpn`` young, and dirty if asked; returns whether
    the dirty bit changed."""
    base = pmd_base(vpn)
    newly_dirty = False
    for key in range(base, base + HPAGE_NR):
        pte = S.pte_at(m, pid, key)
        assert pmd_trans_huge(pte)
        new = pte_mkyoung(pte)
        if dirty:
            new = pte_mkdirty(new)
        if new != pte:
            newly_dirty = newly_dirty or pte_dirty(new) != pte_dirty(pte)
            S.set_pte_at(m, pid, key, new)
    return m, newly_dirty


def huge_zero_pfns(m: FlatMachine) -> list[int]:
    for pfn in S.pfns_in_use(m):
        if S.is_huge_zero_page(m, pfn) and S.PageTransCompound(m, pfn) and S.compound_head(m, pfn) == pfn:
            return folio_pages(m, pfn)
    return []


# --- faults -------------------------------------------------------------------------


def do_huge_pmd_anonymous_page(
    c: Ctx, m: FlatMachine, ti: int, pid: int, vpn: int, *, write: bool
) -> FlatMachine:
    """First touch of a THP-suitable range: a write maps a new zeroed THP by a PMD, a
    read maps the huge zero page read-only (allocated on first use)."""
    base = pmd_base(vpn)
    vma = vma_at(m, pid, vpn)
    assert vma is not None
    node = S.task_node(m, ti)
    if not write:
        pfns = huge_zero_pfns(m)
        if not pfns:
            pfns = new_folio(m, 0, (0,) * HPAGE_NR, anon=False, huge_zero=True)
        c.decide(
            "do_huge_pmd_anonymous_page",
            f"read fault -> map the huge zero page (pfns {pfns[0]}..) read-only at vpn {base:#x}",
        )
        _map_pmd(m, pid, base, pfns)
        return m
    pfns = new_folio(m, node, (0,) * HPAGE_NR, exclusive=c.r.anon_exclusive)
    c.decide(
        "do_huge_pmd_anonymous_page",
        f"write fault -> new THP pfns "
        f"{', '.join(map(str, pfns))} on node {node}, PMD "
        f"{'writable' if vma.writable else 'read-only'}",
    )
    _map_pmd(m, pid, base, pfns, write=vma.writable, dirty=True)
    return m


def page_trans_huge_map_swapcount(m: FlatMachine, pfn: int) -> int:
    """reuse_swap_page()'s count for a THP (<= v5.17): the largest PTE mapcount plus
    swap count of any subpage, plus the PMD mappings."""
    head = S.compound_head(m, pfn)
    best = 0
    for sub in folio_pages(m, head):
        swaps = S.swap_count(m, S.page_swap_slot(m, sub)) if S.PageSwapCache(m, sub) else 0
        best = max(best, S.page_mapcount_raw(m, sub) + swaps)
    return best + S.compound_mapcount(m, head)


def do_huge_pmd_wp_page(
    c: Ctx, m: FlatMachine, ti: int, pid: int, vpn: int, *, unshare: bool
) -> tuple[FlatMachine, str]:
    """Write (or unshare) fault on a read-only PMD.  Returns ``"write"``/``"done"``, or
    ``"fallback"`` after splitting the PMD: the fault then goes on at PTE level."""
    fn = "do_huge_pmd_wp_page"
    r = c.r
    base = pmd_base(vpn)
    vma = vma_at(m, pid, vpn)
    assert vma is not None
    group = pmd_group(m, pid, base)
    head = pte_pfn(group[0][1])
    if S.is_huge_zero_page(m, head):
        if r.thp_wp_split:
            c.decide(fn, "huge zero page -> split the PMD, fall back to PTEs", "thp_wp_split")
            return split_huge_pmd(c, m, pid, base, fn), "fallback"
        return _copy_huge(c, m, ti, pid, base, vma, "huge zero page", "thp_wp_split")
    if r.anon_exclusive and S.PageAnonExclusive(m, head):
        return _reuse_huge(c, m, pid, base, vma, unshare, "PageAnonExclusive", "anon_exclusive")
    if r.thp_wp_refcount:
        refcount = S.page_count(m, head)
        if refcount == 1:
            return _reuse_huge(c, m, pid, base, vma, unshare, "page_count 1", "thp_wp_refcount")
        c.decide(fn, f"page_count {refcount} != 1 -> split the PMD, fall back to PTEs", "thp_wp_refcount")
        return split_huge_pmd(c, m, pid, base, fn), "fallback"
    if r.thp_wp_split:
        count = page_trans_huge_map_swapcount(m, head)
        why = f"reuse_swap_page: map+swap count {count}"
        if count <= 1:
            return _reuse_huge(c, m, pid, base, vma, unshare, why, "thp_wp_split")
        c.decide(fn, f"{why} -> split the PMD, fall back to PTEs", "thp_wp_split")
        return split_huge_pmd(c, m, pid, base, fn), "fallback"
    count = page_trans_huge_map_swapcount(m, head)
    if count == 1:
        return _reuse_huge(c, m, pid, base, vma, unshare, "page_trans_huge_mapcount 1", "thp_wp_split")
    return _copy_huge(c, m, ti, pid, base, vma, f"page_trans_huge_mapcount {count}", "thp_wp_split")


def _reuse_huge(
    c: Ctx, m: FlatMachine, pid: int, base: int, vma: Vma, unshare: bool, why: str, rule: str
) -> tuple[FlatMachine, str]:
    group = pmd_group(m, pid, base)
    c.decide("do_huge_pmd_wp_page", f"{why} -> reuse THP {pte_pfn(group[0][1])}", rule)
    if c.r.anon_exclusive:
        for _, pte in group:
            S.SetPageAnonExclusive(m, pte_pfn(pte))
    if unshare:
        return m, "done"
    for vpn, pte in group:
        S.set_pte_at(m, pid, vpn, maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(pte_mkyoung(pte))), vma))
    return m, "write"


def _copy_huge(
    c: Ctx, m: FlatMachine, ti: int, pid: int, base: int, vma: Vma, why: str, rule: str
) -> tuple[FlatMachine, str]:
    """<= v5.7: copy the whole huge page into a new THP and map it writable (a new
    zeroed THP for the huge zero page: clear_huge_page, not a copy)."""
    group = pmd_group(m, pid, base)
    old = pte_pfn(group[0][1])
    huge_zero = S.is_huge_zero_page(m, old)
    contents = tuple(0 if huge_zero else S.page_content(m, pte_pfn(pte)) for _, pte in group)
    pfns = new_folio(m, S.task_node(m, ti), contents, exclusive=c.r.anon_exclusive)
    c.decide("do_huge_pmd_wp_page", f"{why} -> copy THP {old} to new THP {', '.join(map(str, pfns))}", rule)
    _map_pmd(m, pid, base, pfns, write=vma.writable, dirty=True)
    if not huge_zero:
        S.compound_mapcount_add(m, old, -1)
        put_page(c, m, old)
    return m, "write"


# --- splitting ----------------------------------------------------------------------


def split_huge_pmd(c: Ctx, m: FlatMachine, pid: int, base: int, fn: str) -> FlatMachine:
    """__split_huge_pmd(): the PMD becomes HPAGE_NR PTEs with its permissions; the PMD's
    reference and map become one per PTE (page_ref_add(HPAGE_NR - 1)).  A huge zero
    PMD becomes PTEs of the small zero page."""
    group = pmd_group(m, pid, base)
    if not group:
        return _split_huge_pmd_migration(c, m, pid, base, fn)
    head = pte_pfn(group[0][1])
    if S.is_huge_zero_page(m, head):
        for vpn, pte in group:
            zero = pfn_pte(ZERO_PFN, PAGE_READONLY)
            S.set_pte_at(m, pid, vpn, zero if pte_young(pte) else pte_mkold(zero))
    else:
        S.page_ref_add(m, head, HPAGE_NR - 1)
        S.compound_mapcount_add(m, head, -1)
        for vpn, pte in group:
            S.page_mapcount_add(m, pte_pfn(pte), 1)
            # the PMD's dirty bit goes to the folio, not to the PTEs (v4.12-v6.1 alike)
            S.set_pte_at(m, pid, vpn, pte_mkclean(pte_clear_pmd_mapped(pte)))
    S.set_pmd_pte_table(m, pid, base, True)
    c.note(fn, f"{S.mm_name(m, pid)}: PMD at vpn {base:#x} split into PTEs (THP {head})")
    return m


def _split_huge_pmd_migration(c: Ctx, m: FlatMachine, pid: int, base: int, fn: str) -> FlatMachine:
    """__split_huge_pmd_locked() of a PMD migration entry: one PTE migration entry per
    subpage, with the same mode and bits (entries hold no references or maps)."""
    first = S.pte_at(m, pid, base)
    if pte_present(first) or not pte_pmd_mapped(first):
        return m
    for vpn in range(base, base + HPAGE_NR):
        S.set_pte_at(m, pid, vpn, pte_clear_pmd_mapped(S.pte_at(m, pid, vpn)))
    S.set_pmd_pte_table(m, pid, base, True)
    c.note(fn, f"{S.mm_name(m, pid)}: PMD migration entry at vpn {base:#x} split into PTE migration entries")
    return m


def split_huge_pmds_at(c: Ctx, m: FlatMachine, pid: int, cuts: tuple[int, ...], fn: str) -> FlatMachine:
    """vma_adjust_trans_huge(): a VMA boundary (or a partial range) inside a PMD splits it."""
    for cut in cuts:
        base = pmd_base(cut)
        if cut != base:
            split_huge_pmd(c, m, pid, base, fn)
    return m


def can_split_huge_page(m: FlatMachine, head: int) -> tuple[bool, str]:
    """can_split_folio(): only the mappings and the caller's isolation may hold it."""
    refcount = S.page_count(m, head)
    maps = folio_total_mapcount(m, head)
    extra = refcount - maps
    return extra == 0, f"refcount {refcount}, {maps} mappings"


def split_huge_page(c: Ctx, m: FlatMachine, pfn: int, fn: str) -> tuple[FlatMachine, bool]:
    """split_huge_page(): every PMD of the folio is split, then each subpage becomes a
    small page holding one reference per mapping.  Fails when something else (a GUP
    reference or pin) holds the folio."""
    head = S.compound_head(m, pfn)
    ok, why = can_split_huge_page(m, head)
    if not ok:
        c.decide(fn, f"split_huge_page(THP {head}): {why}: extra references -> -EBUSY")
        return m, False
    for pid, vpn, pte in rmap_present(m, head):
        if pte_pmd_mapped(pte):
            split_huge_pmd(c, m, pid, pmd_base(vpn), fn)
    lru = S.PageLRU(m, head)
    for sub in folio_pages(m, head):
        S.set_compound_head(m, sub, NO_HEAD)
        S.compound_mapcount_add(m, sub, -S.compound_mapcount(m, sub))
        S.page_ref_add(m, sub, S.page_mapcount_raw(m, sub) - S.page_count(m, sub))
        S.SetPageLRU(m, sub, lru)
    c.decide(fn, f"split_huge_page(THP {head}): {why} -> small pages")
    return m, True


# --- zap and fork -------------------------------------------------------------------


def zap_huge_pmd(c: Ctx, m: FlatMachine, pid: int, base: int) -> FlatMachine:
    group = pmd_group(m, pid, base)
    for vpn, _ in group:
        S.pte_clear(m, pid, vpn)
    head = pte_pfn(group[0][1])
    if S.is_huge_zero_page(m, head):
        c.note("zap_huge_pmd", f"vpn {base:#x}: unmapped the huge zero page")
        return m
    if S.compound_mapcount(m, head) <= 0:
        raise ModelBugError(f"compound mapcount of THP {head} below zero")
    S.compound_mapcount_add(m, head, -1)
    put_page(c, m, head)
    c.note("zap_huge_pmd", f"vpn {base:#x}: unmapped THP {head}")
    return m


def copy_huge_pmd(
    c: Ctx, m: FlatMachine, parent: int, vma: Vma, base: int, early: tuple[int, ...]
) -> tuple[FlatMachine, list[tuple[int, pte_t]] | None]:
    """fork: share the THP by the child's PMD (write-protecting both in a COW mapping);
    or, from d042035eaf5f, split a maybe-pinned PMD and return None so that the PTEs
    are copied one by one (and the pinned subpages copied for the child).  ``parent``
    is the parent's pid."""
    fn = "copy_huge_pmd"
    group = pmd_group(m, parent, base)
    head = pte_pfn(group[0][1])
    if S.is_huge_zero_page(m, head):
        c.decide(fn, f"vpn {base:#x}: share the huge zero page")
        return m, [(vpn, pte_mkold(pte)) for vpn, pte in group]
    if base in early:
        if c.r.fork_split_pinned_pmd:
            c.decide(
                fn,
                f"vpn {base:#x}: THP {head} maybe pinned -> split the PMD, copy PTEs",
                "fork_split_pinned_pmd",
            )
            return split_huge_pmd(c, m, parent, base, fn), None
        c.decide(fn, f"vpn {base:#x}: THP {head} maybe pinned, shared anyway", "fork_split_pinned_pmd")
    get_page(m, head)
    S.compound_mapcount_add(m, head, 1)
    if c.r.anon_exclusive:
        for _, pte in group:
            S.ClearPageAnonExclusive(m, pte_pfn(pte))
    child = [(vpn, pte_mkold(pte)) for vpn, pte in group]
    if vma.is_cow_mapping and pte_write(group[0][1]):
        for vpn, pte in group:
            S.set_pte_at(m, parent, vpn, pte_wrprotect(pte))
        child = [(vpn, pte_wrprotect(pte)) for vpn, pte in child]
        c.decide(fn, f"vpn {base:#x}: share THP {head}, write-protect parent and child PMDs")
    else:
        c.decide(fn, f"vpn {base:#x}: share THP {head}")
    return m, child


# --- MADV_COLLAPSE ------------------------------------------------------------------


def madvise_collapse(c: Ctx, m: FlatMachine, pid: int, lo: int, hi: int) -> FlatMachine:
    """MADV_COLLAPSE (7d8faaf15545, v6.1): each whole PMD range of [lo, hi) whose PTEs
    map anon pages (or nothing) is copied into a new THP mapped by a PMD
    (collapse_huge_page).  Unlike khugepaged, shared and unpopulated PTEs are allowed
    (no max_ptes_* limits).  It drains every CPU's LRU-add batch first
    (lru_add_drain_all), so a page something else still holds (a GUP reference, the
    swap cache) fails the range (SCAN_PAGE_COUNT), as does a swap entry, and
    up to 62b98015d988 (v6.18) a range with no writable PTE (SCAN_PAGE_RO): after fork
    write-protected every PTE, the parent cannot collapse until it writes one."""
    fn = "madvise_collapse"
    lru_add_drain(c, m, None, "lru_add_drain_all")  # before any range: every CPU's batch
    for base in range(lo + -lo % HPAGE_NR, hi - HPAGE_NR + 1, HPAGE_NR):
        # the model does not merge VMAs back after a split: pieces with equal flags
        # stand for the one VMA vma_merge() would have made
        vmas = [vma_at(m, pid, base + i) for i in range(HPAGE_NR)]
        vma = vmas[0]
        if vma is None or vma.file or vma.hugetlb or any(v is None or v.flags != vma.flags for v in vmas):
            c.decide(fn, f"vpn {base:#x}: not a whole anonymous PMD range -> skip")
            continue
        ptes = [S.pte_at(m, pid, base + i) for i in range(HPAGE_NR)]
        if all(pmd_trans_huge(p) for p in ptes):
            c.decide(fn, f"vpn {base:#x}: already PMD-mapped")
            continue
        why = _collapse_refused(m, ptes)
        if why is not None:
            c.decide(fn, f"vpn {base:#x}: {why} -> cannot collapse")
            continue
        read_only = not any(pte_write(p) for p in ptes)
        if read_only and not c.r.collapse_read_only:
            c.decide(
                fn,
                f"vpn {base:#x}: no writable PTE in the range (SCAN_PAGE_RO) -> cannot collapse, EINVAL",
                "collapse_read_only",
            )
            continue
        contents = tuple(0 if pte_none(p) else S.page_content(m, pte_pfn(p)) for p in ptes)
        node = 0 if pte_none(ptes[0]) else S.page_to_nid(m, pte_pfn(ptes[0]))
        pfns = new_folio(m, node, contents, exclusive=c.r.anon_exclusive)
        for vpn, old in zip(range(base, base + HPAGE_NR), ptes, strict=True):
            S.pte_clear(m, pid, vpn)
            if not pte_none(old) and pte_pfn(old) != ZERO_PFN:
                page_remove_rmap(m, pte_pfn(old))
                put_page(c, m, pte_pfn(old))
        _map_pmd(m, pid, base, pfns, write=vma.writable, dirty=True)
        S.set_pmd_pte_table(m, pid, base, False)
        c.decide(
            fn,
            f"vpn {base:#x}: copied into new THP {', '.join(map(str, pfns))}, mapped by a PMD"
            + (" (no PTE was writable)" if read_only else ""),
            "collapse_read_only" if read_only else "madv_collapse",
        )
    return m


def _collapse_refused(m: FlatMachine, ptes: list[pte_t]) -> str | None:
    for pte in ptes:
        if pte_none(pte):
            continue
        if not pte_present(pte):
            return "a swap or migration entry"
        pfn = pte_pfn(pte)
        if pfn == ZERO_PFN:
            continue
        if not S.PageAnon(m, pfn) or S.is_huge_zero_page(m, pfn):
            return f"pfn {pfn} is not an anon page"
        head = S.compound_head(m, pfn)
        maps = folio_total_mapcount(m, head) if S.PageTransCompound(m, pfn) else S.page_mapcount_raw(m, pfn)
        refcount = S.page_count(m, head)
        if refcount != maps:
            return f"pfn {pfn}: refcount {refcount} > {maps} mappings"
    return None
