"""The named behaviour rules that kernel commits switch.

Each rule is one decision that differs between kernel versions.  Its value in a
kernel is set by the last applied commit that switches it, or else is the
field's default here (its value before any modeled commit touched it).  The
kernel paths read them as attributes: ``k.r.wp_reuse_refcount``.
"""

from __future__ import annotations

from typing import NamedTuple


class Rules(NamedTuple):
    numa_savedwrite: bool = False
    gup_foll_cow: bool = False
    numa_skip_shared_cow: bool = False
    madv_pageout: bool = False
    foll_pin: bool = False
    pin_bias: bool = False
    gup_cow_break_on_read: bool = False
    wp_reuse_refcount: bool = False
    mm_has_pinned: bool = False
    fork_early_cow: bool = False
    gup_fast_fork_seq: bool = False
    hugetlb_fork_early_cow: bool = False
    reclaim_skip_pinned: bool = False
    clear_refs_skip_pinned: bool = False
    numa_delay_map: bool = False
    numa_skip_refcount: bool = False
    wp_swapcache_free: bool = False
    wp_lru_drain: bool = False
    swapin_refcount: bool = False
    anon_exclusive: bool = False
    swap_exclusive_bit: bool = False
    ro_pin_unshare: bool = False
    ro_longterm_unshare_cow: bool = False
    mprotect_exclusive_writable: bool = False
    no_foll_cow: bool = False
    numa_recompute_writable: bool = False
    gup_honor_numa_fault: bool = False
    gup_numa_fault_explicit: bool = False
    longterm_write_pin_file_refused: bool = False
    gup_fast_longterm_write_file_fallback: bool = False
    iouring_fixed_buffers: bool = False
    iouring_shmem_buffers: bool = False
    iouring_delegates_file_check: bool = False
    iouring_pin_fast: bool = False
    migration_entry_ad: bool = False
    numa_skip_pinned_or_shared: bool = False
    thp_foll_cow: bool = False
    thp_touch_dirty_write_only: bool = False
    thp_wp_split: bool = False
    fork_split_pinned_pmd: bool = False
    thp_wp_refcount: bool = False
    madv_collapse: bool = False
    thp_numa_migrate_pages: bool = False
    thp_numa_skip_shared: bool = False
    fork_early_cow_anon_only: bool = False
    numa_isolate_under_ptl: bool = False
    numa_migrate_large_folio: bool = False
    swapin_map_writable_exclusive: bool = False
    anon_mthp: bool = False
    wp_no_reuse_large: bool = False
    wp_reuse_large_exclusive: bool = False
    folio_shared_by_mm: bool = False
    collapse_read_only: bool = False
    zero_page_pin_fails: bool = False


RULE_SUMMARIES: dict[str, str] = {
    "numa_savedwrite": "NUMA PROT_NONE PTEs keep the write bit (savedwrite)",
    "gup_foll_cow": "GUP keeps FOLL_WRITE after a COW fault and accepts a dirty R/O PTE (FOLL_COW)",
    "numa_skip_shared_cow": "NUMA scan skips pages of COW mappings that look shared",
    "foll_pin": "FOLL_PIN exists (pin_user_pages)",
    "pin_bias": "a FOLL_PIN adds GUP_PIN_COUNTING_BIAS (1024) to the refcount",
    "gup_cow_break_on_read": "GUP taking a reference in a COW mapping breaks COW as if writing",
    "madv_pageout": "madvise(MADV_PAGEOUT) exists",
    "wp_reuse_refcount": "do_wp_page reuses an anon page only if its refcount is 1",
    "mm_has_pinned": "mm->has_pinned gates fork's early COW",
    "fork_early_cow": "fork copies maybe-pinned anon pages for the child at once",
    "clear_refs_skip_pinned": "clear_refs soft-dirty leaves maybe-pinned COW pages writable",
    "hugetlb_fork_early_cow": "fork copies maybe-pinned hugetlb pages for the child at once",
    "gup_fast_fork_seq": "GUP-fast backs off while fork copies the page tables (write_protect_seq)",
    "reclaim_skip_pinned": "reclaim keeps maybe-pinned anon pages out of the swap cache",
    "numa_delay_map": "do_numa_page keeps the PTE PROT_NONE while migrating",
    "numa_skip_refcount": "NUMA scan tests refcount != 1 (not mapcount) in COW mappings",
    "wp_swapcache_free": "do_wp_page frees the swap cache of an exclusive page, then tests refcount",
    "wp_lru_drain": "do_wp_page drains the local LRU batch before its refcount test",
    "swapin_refcount": "do_swap_page maps writable on refcount exclusivity, not reuse_swap_page",
    "anon_exclusive": "PG_anon_exclusive marks exclusively mapped anon pages",
    "swap_exclusive_bit": "swap PTEs remember PG_anon_exclusive",
    "ro_pin_unshare": "R/O FOLL_PIN on a non-exclusive anon page unshares it first",
    "ro_longterm_unshare_cow": "R/O long-term pins in COW mappings unshare the zero page too",
    "mprotect_exclusive_writable": "mprotect(RW) maps exclusive anon pages writable at once",
    "no_foll_cow": "forced writes through R/O PTEs need an exclusive anon page (FOLL_COW gone)",
    "numa_recompute_writable": "NUMA hinting fault recomputes writability; R/O after a failed migration",
    "gup_honor_numa_fault": "GUP takes NUMA hinting faults even with FOLL_FORCE",
    "migration_entry_ad": "migration entries keep the PTE's young and dirty bits",
    "gup_numa_fault_explicit": "GUP takes NUMA hinting faults only for callers that ask (KVM): "
    "pins and /proc/pid/mem follow PROT_NONE entries",
    "longterm_write_pin_file_refused": "a long-term write pin of a shared file mapping that needs "
    "dirty tracking (a disk filesystem) fails with -EFAULT",
    "gup_fast_longterm_write_file_fallback": "GUP-fast takes long-term write pins only on anon, "
    "shmem and hugetlb folios; others go to the slow path",
    "iouring_fixed_buffers": "io_uring exists, with fixed buffers (IORING_REGISTER_BUFFERS)",
    "iouring_shmem_buffers": "io_uring's fixed buffers may be shmem (memfd) memory",
    "iouring_delegates_file_check": "io_uring no longer refuses file-backed buffers itself; GUP decides",
    "iouring_pin_fast": "io_uring pins its fixed buffers through GUP-fast first",
    "numa_skip_pinned_or_shared": "NUMA scan skips maybe-pinned or maybe-shared folios",
    "thp_foll_cow": "a forced write accepts a dirty R/O PMD after a COW fault (FOLL_COW for THP)",
    "thp_touch_dirty_write_only": "GUP's touch_pmd dirties the PMD only for write access",
    "thp_wp_split": "PMD write fault: reuse_swap_page() or split the PMD (no huge copy)",
    "fork_split_pinned_pmd": "fork splits a maybe-pinned PMD so the PTE early COW applies",
    "thp_wp_refcount": "PMD write fault reuses the THP only if its refcount is 1",
    "madv_collapse": "madvise(MADV_COLLAPSE) exists: synchronous THP collapse",
    "thp_numa_migrate_pages": "a THP's NUMA fault migrates it by migrate_pages() and PMD migration "
    "entries (before: its own copy, only at page_count 3, and R/O on failure)",
    "thp_numa_skip_shared": "a THP mapped more than once is not isolated for NUMA migration",
    "fork_early_cow_anon_only": "fork copies early only anon pages (a pinned page-cache page is shared)",
    "numa_isolate_under_ptl": "the NUMA hinting fault isolates under the PTL: a refused isolation "
    "keeps the write bit it computed",
    "numa_migrate_large_folio": "a hinting fault on a PTE-mapped THP migrates its folio "
    "(before: do_numa_page left compound pages alone)",
    "swapin_map_writable_exclusive": "swap-in maps an exclusive page writable on a read fault too",
    "anon_mthp": "anonymous write faults may allocate a multi-size THP mapped by PTEs",
    "wp_no_reuse_large": "do_wp_page never reuses a page of a large folio (without PageAnonExclusive)",
    "wp_reuse_large_exclusive": "do_wp_page reuses a large folio that this mm alone maps and holds",
    "folio_shared_by_mm": "a large folio is 'maybe mapped shared' when another mm maps it (MM owner "
    "slots), not by a mapcount estimate",
    "zero_page_pin_fails": "a FOLL_PIN of the shared zero page fails with -ENOMEM (a bad 6.1.y "
    "backport: try_grab_page() returns 0, failure in 6.1, for the zero page)",
    "collapse_read_only": "THP collapse takes an anon range with no writable PTE "
    "(before: refused, SCAN_PAGE_RO, and MADV_COLLAPSE fails with EINVAL)",
}

RULE_NAMES: tuple[str, ...] = Rules._fields
DEFAULT_RULES = Rules()
