"""Transparent huge pages (mm/huge_memory.c): PMD faults, the PMD write fault
(do_huge_pmd_wp_page), PMD splits, zap and fork of a PMD, and folio splits.

A THP is ``HPAGE_NR`` subpages (``Page.head``); a PMD mapping is the aligned group of
``HPAGE_NR`` present PTEs marked ``pte_pmd_mapped``.  The folio's refcount holds
one reference per PMD and one per PTE mapping a subpage; ``compound_mapcount`` on the
head counts PMDs.  Rules by version (kernel-semantics.md §2.1, §2.3, §5.1):

- do_huge_pmd_wp_page: up to v5.7 reuse iff the THP's map+swap count is 1 (v4.9-v4.13
  page_trans_huge_mapcount(), from ba3c4ce6def4 (v4.14) reuse_swap_page() under the
  page lock: the same count here, as a THP is never in the swap cache in the model; GUP
  references ignored), else copy the whole huge page; 3917c80280c9 "thp: change CoW
  semantics for anon-THP" (v5.8) reuse iff reuse_swap_page(), else split the PMD and
  let the PTE fault (do_wp_page) decide; 3bff7e3f1f16 "mm/huge_memory: streamline COW
  logic in do_huge_pmd_wp_page()" (v5.18) reuse iff page_count() == 1; 6c287605fd56
  (v5.19) reuse a PageAnonExclusive THP at once.
- copy_huge_pmd (fork): d042035eaf5f "mm/thp: Split huge pmds/puds if they're pinned
  when fork()" (v5.9) splits a maybe-pinned PMD so that the PTE early COW applies.
- GUP (follow_trans_huge_pmd): 8310d48b125d "mm/huge_memory.c: respect FOLL_FORCE/
  FOLL_COW for thp" (v4.10) lets a forced write accept a dirty R/O PMD; touch_pmd()
  dirtied the PMD on any GUP until a8f97366452e "mm, thp: do not make page table dirty
  unconditionally in touch_p[mu]d()" (v4.15, CVE-2017-1000405).

Only THP enabled by MADV_HUGEPAGE is modeled (sysfs "enabled=madvise"); NUMA
balancing and migration of THPs, khugepaged and THP swap-in are not (the NUMA
scanner skips THPs, reclaim splits them first).
"""

from __future__ import annotations

from cowlab.kernel.context import Ctx, ModelBugError
from cowlab.kernel.pages import folio_pages, get_page, page_remove_rmap, put_page
from cowlab.kernel.pgtable import maybe_mkwrite, pte_clear, rmap_present, set_pte
from cowlab.kernel.swapfile import swapcount
from cowlab.model import HPAGE_NR, NO_HEAD, ZERO_PFN, Machine, Page, Process, Vma
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


def pmd_base(vpn: int) -> int:
    """The first vpn of the PMD-sized range holding ``vpn``."""
    return vpn - vpn % HPAGE_NR


def pmd_group(proc: Process, base: int) -> list[tuple[int, pte_t]]:
    """The PTEs of the PMD mapping at ``base``, in vpn order."""
    return [(vpn, pte) for vpn, pte in proc.ptes
            if base <= vpn < base + HPAGE_NR and pte_present(pte) and pte_pmd_mapped(pte)]


def pmd_none(proc: Process, base: int) -> bool:
    """No PMD and no page table of PTEs at ``base``."""
    if base in proc.pte_tables:
        return False
    return not any(base <= vpn < base + HPAGE_NR for vpn, _ in proc.ptes)


def tables_in_use(tables: tuple[int, ...] | set[int], vmas: tuple[Vma, ...] | list[Vma]
                  ) -> tuple[int, ...]:
    """The page tables of PTEs that still serve a VMA (free_pgtables() frees the rest)."""
    return tuple(sorted(b for b in tables
                        if any(v.start < b + HPAGE_NR and b < v.end for v in vmas)))


def thp_suitable(proc: Process, vma: Vma, vpn: int) -> bool:
    """transhuge_vma_suitable() && pmd_none(): may a fault at ``vpn`` map a THP?"""
    base = pmd_base(vpn)
    return (vma.thp_enabled and vma.start <= base and base + HPAGE_NR <= vma.end
            and pmd_none(proc, base))


def _new_folio(m: Machine, node: int, contents: tuple[int, ...], *, anon: bool = True,
               exclusive: bool = False, huge_zero: bool = False) -> tuple[Machine, list[int]]:
    """HPAGE_NR new pages forming one THP; the head holds the PMD's reference and map
    (the huge zero page keeps no per-mapping counts)."""
    maps = 0 if huge_zero else 1
    m, head = m.with_new_page(Page(node=node, content=contents[0], refcount=maps, anon=anon,
                                   exclusive=exclusive, lru=anon, compound_mapcount=maps,
                                   huge_zero=huge_zero))
    m = m.with_page(head, m.page(head)._replace(head=head))
    pfns = [head]
    for content in contents[1:]:
        m, pfn = m.with_new_page(Page(node=node, content=content, anon=anon,
                                      exclusive=exclusive, head=head, huge_zero=huge_zero))
        pfns.append(pfn)
    return m, pfns


def _map_pmd(m: Machine, pid: int, base: int, pfns: list[int], *, write: bool = False,
             dirty: bool = False) -> Machine:
    """set_pmd_at() of a PMD mapping the THP ``pfns``: young, writable if ``write``;
    ``dirty`` marks it dirty and soft-dirty."""
    for i, pfn in enumerate(pfns):
        pte = pte_mkpmd_mapped(pfn_pte(pfn, PAGE_READONLY))
        if write:
            pte = pte_mkwrite(pte)
        if dirty:
            pte = pte_mksoft_dirty(pte_mkdirty(pte))
        m = set_pte(m, pid, base + i, pte)
    return m


def pmd_mkyoung(m: Machine, pid: int, vpn: int, *, dirty: bool) -> tuple[Machine, bool]:
    """Mark every PTE of the PMD at ``vpn`` young, and dirty if asked; returns whether
    the dirty bit changed."""
    base = pmd_base(vpn)
    newly_dirty = False
    for key in range(base, base + HPAGE_NR):
        pte = m.processes[pid].pte(key)
        assert pte_present(pte) and pte_pmd_mapped(pte)
        new = pte_mkyoung(pte)
        if dirty:
            new = pte_mkdirty(new)
        if new != pte:
            newly_dirty = newly_dirty or pte_dirty(new) != pte_dirty(pte)
            m = set_pte(m, pid, key, new)
    return m, newly_dirty


def huge_zero_pfns(m: Machine) -> list[int]:
    for pfn, page in enumerate(m.pages):
        if page is not None and page.huge_zero and page.head == pfn:
            return folio_pages(m, pfn)
    return []


# --- faults -------------------------------------------------------------------------


def do_huge_pmd_anonymous_page(c: Ctx, m: Machine, ti: int, pid: int, vpn: int, *,
                               write: bool) -> Machine:
    """First touch of a THP-suitable range: a write maps a new zeroed THP by a PMD, a
    read maps the huge zero page read-only (allocated on first use)."""
    base = pmd_base(vpn)
    vma = m.processes[pid].vma_at(vpn)
    assert vma is not None
    node = m.threads[ti].node
    if not write:
        pfns = huge_zero_pfns(m)
        if not pfns:
            m, pfns = _new_folio(m, 0, (0,) * HPAGE_NR, anon=False, huge_zero=True)
        c.decide("do_huge_pmd_anonymous_page", f"read fault -> map the huge zero page "
                 f"(pfns {pfns[0]}..) read-only at vpn {base:#x}")
        return _map_pmd(m, pid, base, pfns)
    m, pfns = _new_folio(m, node, (0,) * HPAGE_NR, exclusive=c.r.anon_exclusive)
    c.decide("do_huge_pmd_anonymous_page", f"write fault -> new THP pfns "
             f"{', '.join(map(str, pfns))} on node {node}, PMD "
             f"{'writable' if vma.writable else 'read-only'}")
    return _map_pmd(m, pid, base, pfns, write=vma.writable, dirty=True)


def page_trans_huge_map_swapcount(m: Machine, pfn: int) -> int:
    """reuse_swap_page()'s count for a THP (<= v5.17): the largest PTE mapcount plus
    swap count of any subpage, plus the PMD mappings."""
    head = m.page(pfn).head
    best = 0
    for sub in folio_pages(m, head):
        page = m.page(sub)
        swaps = swapcount(m, page.swapcache) if page.in_swapcache else 0
        best = max(best, page.mapcount + swaps)
    return best + m.page(head).compound_mapcount


def do_huge_pmd_wp_page(c: Ctx, m: Machine, ti: int, pid: int, vpn: int, *, unshare: bool
                        ) -> tuple[Machine, str]:
    """Write (or unshare) fault on a read-only PMD.  Returns ``"write"``/``"done"``, or
    ``"fallback"`` after splitting the PMD: the fault then goes on at PTE level."""
    fn = "do_huge_pmd_wp_page"
    r = c.r
    base = pmd_base(vpn)
    proc = m.processes[pid]
    vma = proc.vma_at(vpn)
    assert vma is not None
    group = pmd_group(proc, base)
    head = pte_pfn(group[0][1])
    folio = m.page(head)
    if folio.huge_zero:
        if r.thp_wp_split:
            c.decide(fn, "huge zero page -> split the PMD, fall back to PTEs", "thp_wp_split")
            return split_huge_pmd(c, m, pid, base, fn), "fallback"
        return _copy_huge(c, m, ti, pid, base, vma, "huge zero page", "thp_wp_split")
    if r.anon_exclusive and folio.exclusive:
        return _reuse_huge(c, m, pid, base, vma, unshare, "PageAnonExclusive", "anon_exclusive")
    if r.thp_wp_refcount:
        if folio.refcount == 1:
            return _reuse_huge(c, m, pid, base, vma, unshare, "page_count 1", "thp_wp_refcount")
        c.decide(fn, f"page_count {folio.refcount} != 1 -> split the PMD, fall back to PTEs",
                 "thp_wp_refcount")
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
        return _reuse_huge(c, m, pid, base, vma, unshare,
                           "page_trans_huge_mapcount 1", "thp_wp_split")
    return _copy_huge(c, m, ti, pid, base, vma, f"page_trans_huge_mapcount {count}",
                      "thp_wp_split")


def _reuse_huge(c: Ctx, m: Machine, pid: int, base: int, vma: Vma, unshare: bool, why: str,
                rule: str) -> tuple[Machine, str]:
    group = pmd_group(m.processes[pid], base)
    c.decide("do_huge_pmd_wp_page", f"{why} -> reuse THP {pte_pfn(group[0][1])}", rule)
    if c.r.anon_exclusive:
        for _, pte in group:
            m = m.with_page(pte_pfn(pte), m.page(pte_pfn(pte))._replace(exclusive=True))
    if unshare:
        return m, "done"
    for vpn, pte in group:
        m = set_pte(m, pid, vpn, maybe_mkwrite(pte_mksoft_dirty(pte_mkdirty(pte_mkyoung(pte))), vma))
    return m, "write"


def _copy_huge(c: Ctx, m: Machine, ti: int, pid: int, base: int, vma: Vma, why: str,
               rule: str) -> tuple[Machine, str]:
    """<= v5.7: copy the whole huge page into a new THP and map it writable (a new
    zeroed THP for the huge zero page: clear_huge_page, not a copy)."""
    group = pmd_group(m.processes[pid], base)
    old = pte_pfn(group[0][1])
    contents = tuple(0 if m.page(old).huge_zero else m.page(pte_pfn(pte)).content
                     for _, pte in group)
    m, pfns = _new_folio(m, m.threads[ti].node, contents, exclusive=c.r.anon_exclusive)
    c.decide("do_huge_pmd_wp_page", f"{why} -> copy THP {old} to new THP "
             f"{', '.join(map(str, pfns))}", rule)
    m = _map_pmd(m, pid, base, pfns, write=vma.writable, dirty=True)
    if not m.page(old).huge_zero:
        m = m.with_page(old, m.page(old)._replace(compound_mapcount=m.page(old).compound_mapcount
                                                  - 1))
        m = put_page(c, m, old)
    return m, "write"


# --- splitting ----------------------------------------------------------------------


def split_huge_pmd(c: Ctx, m: Machine, pid: int, base: int, fn: str) -> Machine:
    """__split_huge_pmd(): the PMD becomes HPAGE_NR PTEs with its permissions; the PMD's
    reference and map become one per PTE (page_ref_add(HPAGE_NR - 1)).  A huge zero
    PMD becomes PTEs of the small zero page."""
    proc = m.processes[pid]
    group = pmd_group(proc, base)
    if not group:
        return m
    head = pte_pfn(group[0][1])
    folio = m.page(head)
    if folio.huge_zero:
        for vpn, pte in group:
            zero = pfn_pte(ZERO_PFN, PAGE_READONLY)
            m = set_pte(m, pid, vpn, zero if pte_young(pte) else pte_mkold(zero))
    else:
        m = m.with_page(head, folio._replace(refcount=folio.refcount + HPAGE_NR - 1,
                                             compound_mapcount=folio.compound_mapcount - 1))
        for vpn, pte in group:
            page = m.page(pte_pfn(pte))
            m = m.with_page(pte_pfn(pte), page._replace(mapcount=page.mapcount + 1))
            # the PMD's dirty bit goes to the folio, not to the PTEs (v4.12-v6.1 alike)
            m = set_pte(m, pid, vpn, pte_mkclean(pte_clear_pmd_mapped(pte)))
    proc = m.processes[pid]
    m = m.with_process(proc._replace(pte_tables=tuple(sorted({*proc.pte_tables, base}))))
    c.note(fn, f"{proc.name}: PMD at vpn {base:#x} split into PTEs (THP {head})")
    return m


def split_huge_pmds_at(c: Ctx, m: Machine, pid: int, cuts: tuple[int, ...], fn: str) -> Machine:
    """vma_adjust_trans_huge(): a VMA boundary (or a partial range) inside a PMD splits it."""
    for cut in cuts:
        base = pmd_base(cut)
        if cut != base:
            m = split_huge_pmd(c, m, pid, base, fn)
    return m


def folio_total_mapcount(m: Machine, head: int) -> int:
    """total_mapcount(): PTE maps of every subpage plus the PMD maps."""
    return (sum(m.page(p).mapcount for p in folio_pages(m, head))
            + m.page(head).compound_mapcount)


def can_split_huge_page(m: Machine, head: int) -> tuple[bool, str]:
    """can_split_folio(): only the mappings and the caller's isolation may hold it."""
    folio = m.page(head)
    maps = folio_total_mapcount(m, head)
    extra = folio.refcount - maps
    return extra == 0, f"refcount {folio.refcount}, {maps} mappings"


def split_huge_page(c: Ctx, m: Machine, pfn: int, fn: str) -> tuple[Machine, bool]:
    """split_huge_page(): every PMD of the folio is split, then each subpage becomes a
    small page holding one reference per mapping.  Fails when something else (a GUP
    reference or pin) holds the folio."""
    head = m.page(pfn).head
    ok, why = can_split_huge_page(m, head)
    if not ok:
        c.decide(fn, f"split_huge_page(THP {head}): {why}: extra references -> -EBUSY")
        return m, False
    for pid, vpn, pte in rmap_present(m, head):
        if pte_pmd_mapped(pte):
            m = split_huge_pmd(c, m, pid, pmd_base(vpn), fn)
    folio = m.page(head)
    for sub in folio_pages(m, head):
        page = m.page(sub)
        page = page._replace(head=NO_HEAD, compound_mapcount=0, refcount=page.mapcount,
                             lru=folio.lru)
        m = m.with_page(sub, page)
    c.decide(fn, f"split_huge_page(THP {head}): {why} -> small pages")
    return m, True


# --- zap and fork -------------------------------------------------------------------


def zap_huge_pmd(c: Ctx, m: Machine, pid: int, base: int) -> Machine:
    group = pmd_group(m.processes[pid], base)
    for vpn, _ in group:
        m = pte_clear(m, pid, vpn)
    head = pte_pfn(group[0][1])
    folio = m.page(head)
    if folio.huge_zero:
        c.note("zap_huge_pmd", f"vpn {base:#x}: unmapped the huge zero page")
        return m
    if folio.compound_mapcount <= 0:
        raise ModelBugError(f"compound mapcount of THP {head} below zero")
    m = m.with_page(head, folio._replace(compound_mapcount=folio.compound_mapcount - 1))
    m = put_page(c, m, head)
    c.note("zap_huge_pmd", f"vpn {base:#x}: unmapped THP {head}")
    return m


def copy_huge_pmd(c: Ctx, m: Machine, parent: Process, vma: Vma, base: int,
                  early: tuple[int, ...]) -> tuple[Machine, list[tuple[int, pte_t]] | None]:
    """fork: share the THP by the child's PMD (write-protecting both in a COW mapping);
    or, from d042035eaf5f, split a maybe-pinned PMD and return None so that the PTEs
    are copied one by one (and the pinned subpages copied for the child)."""
    fn = "copy_huge_pmd"
    group = pmd_group(parent, base)
    head = pte_pfn(group[0][1])
    folio = m.page(head)
    if folio.huge_zero:
        c.decide(fn, f"vpn {base:#x}: share the huge zero page")
        return m, [(vpn, pte_mkold(pte)) for vpn, pte in group]
    if base in early:
        if c.r.fork_split_pinned_pmd:
            c.decide(fn, f"vpn {base:#x}: THP {head} maybe pinned -> split the PMD, copy PTEs",
                     "fork_split_pinned_pmd")
            return split_huge_pmd(c, m, parent.pid, base, fn), None
        c.decide(fn, f"vpn {base:#x}: THP {head} maybe pinned, shared anyway",
                 "fork_split_pinned_pmd")
    m = get_page(m, head)
    folio = m.page(head)
    m = m.with_page(head, folio._replace(compound_mapcount=folio.compound_mapcount + 1))
    if c.r.anon_exclusive:
        for _, pte in group:
            m = m.with_page(pte_pfn(pte), m.page(pte_pfn(pte))._replace(exclusive=False))
    child = [(vpn, pte_mkold(pte)) for vpn, pte in group]
    if vma.is_cow_mapping and pte_write(group[0][1]):
        for vpn, pte in group:
            m = set_pte(m, parent.pid, vpn, pte_wrprotect(pte))
        child = [(vpn, pte_wrprotect(pte)) for vpn, pte in child]
        c.decide(fn, f"vpn {base:#x}: share THP {head}, write-protect parent and child PMDs")
    else:
        c.decide(fn, f"vpn {base:#x}: share THP {head}")
    return m, child



# --- MADV_COLLAPSE ------------------------------------------------------------------


def madvise_collapse(c: Ctx, m: Machine, pid: int, lo: int, hi: int) -> Machine:
    """MADV_COLLAPSE (7d8faaf15545, v6.1): each whole PMD range of [lo, hi) whose PTEs
    map anon pages (or nothing) is copied into a new THP mapped by a PMD
    (collapse_huge_page).  Unlike khugepaged, shared and unpopulated PTEs are allowed
    (no max_ptes_* limits); a page something else holds (a GUP reference, the swap
    cache, an LRU batch) fails the range (SCAN_PAGE_COUNT), as does a swap entry."""
    fn = "madvise_collapse"
    proc = m.processes[pid]
    for base in range(lo + -lo % HPAGE_NR, hi - HPAGE_NR + 1, HPAGE_NR):
        # the model does not merge VMAs back after a split: pieces with equal flags
        # stand for the one VMA vma_merge() would have made
        vmas = [proc.vma_at(base + i) for i in range(HPAGE_NR)]
        vma = vmas[0]
        if (vma is None or vma.file or vma.hugetlb
                or any(v is None or v.flags != vma.flags for v in vmas)):
            c.decide(fn, f"vpn {base:#x}: not a whole anonymous PMD range -> skip")
            continue
        ptes = [proc.pte(base + i) for i in range(HPAGE_NR)]
        if all(pte_present(p) and pte_pmd_mapped(p) for p in ptes):
            c.decide(fn, f"vpn {base:#x}: already PMD-mapped")
            continue
        why = _collapse_refused(m, ptes)
        if why is not None:
            c.decide(fn, f"vpn {base:#x}: {why} -> cannot collapse")
            continue
        contents = tuple(0 if pte_none(p) else m.page(pte_pfn(p)).content for p in ptes)
        m, pfns = _new_folio(m, 0 if pte_none(ptes[0]) else m.page(pte_pfn(ptes[0])).node,
                             contents, exclusive=c.r.anon_exclusive)
        for vpn, old in zip(range(base, base + HPAGE_NR), ptes, strict=True):
            m = pte_clear(m, pid, vpn)
            if not pte_none(old) and pte_pfn(old) != ZERO_PFN:
                m = page_remove_rmap(m, pte_pfn(old))
                m = put_page(c, m, pte_pfn(old))
        m = _map_pmd(m, pid, base, pfns, write=vma.writable, dirty=True)
        proc = m.processes[pid]
        proc = proc._replace(pte_tables=tuple(b for b in proc.pte_tables if b != base))
        m = m.with_process(proc)
        c.decide(fn, f"vpn {base:#x}: copied into new THP {', '.join(map(str, pfns))}, "
                 "mapped by a PMD", "madv_collapse")
    return m


def _collapse_refused(m: Machine, ptes: list[pte_t]) -> str | None:
    for pte in ptes:
        if pte_none(pte):
            continue
        if not pte_present(pte):
            return "a swap or migration entry"
        pfn = pte_pfn(pte)
        if pfn == ZERO_PFN:
            continue
        page = m.page(pfn)
        if not page.anon or page.huge_zero:
            return f"pfn {pfn} is not an anon page"
        folio = m.page(page.head) if page.thp else page
        maps = folio_total_mapcount(m, page.head) if page.thp else page.mapcount
        if folio.refcount != maps:
            return f"pfn {pfn}: refcount {folio.refcount} > {maps} mappings"
    return None
