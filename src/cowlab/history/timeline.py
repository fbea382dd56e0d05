"""The timeline: every modeled commit, in mainline order.

Order inside a release follows the order the commits reached mainline; bisect
walks this order.  The v5.9 COW series reached mainline in two steps: 09854ba94c6a,
1a0cf26323c8, a308c71bf1e6 in v5.9-rc4 (merge b25d1dc9474e), then 008cfe4418b3 and
70e806e4e645 just before v5.9-rc7 (checked against the rc4 announcement and the git
log, 2026-11).  ``source`` names where the behaviour was read: most often a section
of the project's reference, docs/reference/kernel-behaviour.md, which gives the facts
with their commits, kernel files and functions, and how each was checked.
"""

from __future__ import annotations

from cowlab.history.commits import Commit

#: the project's reference for the kernel facts the timeline relies on
REFERENCE = "docs/reference/kernel-behaviour.md"


def ref(*anchors: str) -> str:
    """Citations of sections of REFERENCE, by their headings' anchors."""
    return ", ".join(f"{REFERENCE}#{anchor}" for anchor in anchors)


TIMELINE: tuple[Commit, ...] = (
    Commit(
        "b191f9b106ea",
        "mm: numa: preserve PTE write permissions across a NUMA hinting fault",
        "v4.0",
        ref("numa-scan"),
        (("numa_savedwrite", True),),
        "M",
    ),
    Commit(
        "19be0eaffa3a",
        "mm: remove gup_flags FOLL_WRITE games from __get_user_pages()",
        "v4.9",
        ref("gup-forced-writes", "dirty-cow-and-huge-dirty-cow") + " (CVE-2016-5195)",
        (("gup_foll_cow", True),),
    ),
    Commit(
        "8310d48b125d",
        "mm/huge_memory.c: respect FOLL_FORCE/FOLL_COW for thp",
        "v4.10",
        ref("gup-forced-writes", "dirty-cow-and-huge-dirty-cow")
        + " (the THP path of 19be0eaffa3a: a forced write to a R/O THP faulted forever)",
        (("thp_foll_cow", True),),
        "M",
    ),
    Commit(
        "a8f97366452e",
        "mm, thp: do not make page table dirty unconditionally in touch_p[mu]d()",
        "v4.15",
        ref("gup-forced-writes", "dirty-cow-and-huge-dirty-cow") + " (Huge Dirty COW, CVE-2017-1000405)",
        (("thp_touch_dirty_write_only", True),),
        "M",
    ),
    Commit(
        "859d4adc3415",
        "mm: numa: do not trap faults on shared data section pages",
        "v4.16",
        ref("numa-scan") + "; v4.16, not v4.15: it was queued on v4.15 for the v4.16 merge "
        "window (docs/research/history-verification.md)",
        (("numa_skip_shared_cow", True),),
    ),
    Commit(
        "edafccee56ff",
        "io_uring: add support for pre-mapped user IO buffers",
        "v5.1",
        "docs/research/iouring-file-buffers.md §1 (hash from the Fixes: tag of a later "
        "io_uring fix; the series 20190211190049.7888-*@kernel.dk went into the v5.1 "
        "merge window): "
        "IORING_REGISTER_BUFFERS pins the buffer long-term for writing",
        (("iouring_fixed_buffers", True),),
        "M",
    ),
    Commit(
        "1a4e58cce84e",
        "mm: introduce MADV_PAGEOUT",
        "v5.4",
        "madvise(2): MADV_PAGEOUT since Linux 5.4; hash not verified against a primary source",
        (("madv_pageout", True),),
        "M",
    ),
    Commit(
        "eddb1c228f79",
        "mm/gup: introduce pin_user_pages*() and FOLL_PIN",
        "v5.6",
        ref("reference-counts-and-mapcounts"),
        (("foll_pin", True),),
        "M",
    ),
    Commit(
        "3faa52c03f44",
        "mm/gup: track FOLL_PIN pages",
        "v5.7",
        ref("reference-counts-and-mapcounts") + " (GUP_PIN_COUNTING_BIAS = 1024)",
        (("pin_bias", True),),
        "M",
    ),
    Commit(
        "3917c80280c9",
        "thp: change CoW semantics for anon-THP",
        "v5.8",
        ref("write-fault-on-a-pmd-mapped-thp") + " (reuse_swap_page or split, no huge copy)",
        (("thp_wp_split", True),),
        "M",
    ),
    Commit(
        "c444eb564fb1",
        "mm: thp: make the THP mapcount atomic against __split_huge_pmd_locked()",
        "v5.8",
        ref("thp-mapcount-race") + " (CVE-2020-29368).  Recorded without a rule: the model splits a "
        "PMD in one atomic step, so the race it closes has no window to open",
    ),
    Commit(
        "17839856fd58",
        'gup: document and work around "COW can break either way" issue',
        "v5.8",
        ref("gup-read-only-references-and-pins", "vmsplice-leak-after-fork") + " (CVE-2020-29374)",
        (("gup_cow_break_on_read", True),),
    ),
    Commit(
        "09854ba94c6a",
        "mm: do_wp_page() simplification",
        "v5.9",
        ref("write-fault-on-a-read-only-pte", "the-gaudi-report")
        + "; lore CAFCwf10eNmwq2wD71xjUhqkvv5+_pJMR1nPug2RqNDcFT4H86Q@mail.gmail.com",
        (("wp_reuse_refcount", True),),
    ),
    Commit(
        "1a0cf26323c8",
        "mm/ksm: Remove reuse_ksm_page()",
        "v5.9",
        ref("write-fault-on-a-read-only-pte")
        + "; KSM is not modeled: recorded so the v5.9-rc4 series keeps its order",
        (),
    ),
    Commit(
        "a308c71bf1e6",
        "mm/gup: Remove enfornced COW mechanism",
        "v5.9",
        ref("gup-read-only-references-and-pins"),
        (("gup_cow_break_on_read", False),),
    ),
    Commit(
        "008cfe4418b3",
        "mm: Introduce mm_struct.has_pinned",
        "v5.9",
        ref("fork-and-pinned-pages"),
        (("mm_has_pinned", True),),
    ),
    Commit(
        "70e806e4e645",
        "mm: Do early cow for pinned pages during fork() for ptes",
        "v5.9",
        ref("fork-and-pinned-pages", "rdma-and-fork") + "; lore 20200925222600.6832-4-peterx@redhat.com",
        (("fork_early_cow", True),),
    ),
    Commit(
        "d042035eaf5f",
        "mm/thp: Split huge pmds/puds if they're pinned when fork()",
        "v5.9",
        ref("fork-and-pinned-pages"),
        (("fork_split_pinned_pmd", True),),
    ),
    Commit(
        "57efa1fe5957",
        "mm/gup: prevent gup_fast from racing with COW during fork",
        "v5.11",
        ref("fork-and-pinned-pages", "rdma-and-fork")
        + "; not in 5.10.y (docs/research/history-verification.md)",
        (("gup_fast_fork_seq", True),),
    ),
    Commit(
        "feb889fb40fa",
        "mm: don't put pinned pages into the swap cache",
        "v5.11",
        ref("swap-out-and-swap-in", "pinned-pages-copied-by-the-refcount-rule"),
        (("reclaim_skip_pinned", True),),
    ),
    Commit(
        "9348b73c2e1b",
        "mm: don't play games with pinned pages in clear_page_refs",
        "v5.11",
        ref("pinned-pages-copied-by-the-refcount-rule")
        + "; stable 5.10.9 (20210118113358.001978134@linuxfoundation.org)",
        (("clear_refs_skip_pinned", True),),
    ),
    Commit(
        "4eae4efa2c29",
        "hugetlb: do early cow when page pinned on src mm",
        "v5.12",
        ref("hugetlb-write-fault-and-fork", "rdma-and-fork"),
        (("hugetlb_fork_early_cow", True),),
    ),
    Commit(
        "b99a342d4f11",
        "NUMA balancing: reduce TLB flush via delaying mapping on hint page fault",
        "v5.13",
        ref("numa-hinting-fault") + "; lore 20210408132236.1175607-1-ying.huang@intel.com",
        (("numa_delay_map", True),),
    ),
    Commit(
        "c5b5a3dd2c1f",
        "mm: thp: refactor NUMA fault handling",
        "v5.14",
        "docs/research/thp-numa.md §2, §4: do_huge_pmd_numa_page() calls "
        "migrate_misplaced_page() and restores the PMD on failure as do_numa_page does; "
        "migrate_misplaced_transhuge_page() is gone (read in 5.12.9 and 5.14-rc5)",
        (("thp_numa_migrate_pages", True),),
    ),
    Commit(
        "662aeea7536d",
        "mm: migrate: check mapcount for THP instead of refcount",
        "v5.14",
        "docs/research/thp-numa.md §3: numamigrate_isolate_page() drops the page_count 3 "
        "test and refuses a THP whose total mapcount is above 1",
        (("thp_numa_skip_shared", True),),
    ),
    Commit(
        "40dad765c045",
        "io_uring: enable shmem/memfd memory registration",
        "v5.14",
        "docs/research/iouring-file-buffers.md §2 (the 5.14-rc1 io_uring pull; liburing "
        "issue #358): io_sqe_buffer_register() lets shmem VMAs through its file check",
        (("iouring_shmem_buffers", True),),
    ),
    Commit(
        "80d47f5de5e3",
        "mm: don't try to NUMA-migrate COW pages that have other uses",
        "v5.17",
        ref("the-gaudi-report", "numa-scan") + "; CVE-2022-48797; stable 5.10.102, 5.15.25, 5.16.11",
        (("numa_skip_refcount", True),),
    ),
    Commit(
        "53a05ad9f21d",
        "mm: optimize do_wp_page() for exclusive pages in the swapcache",
        "v5.18",
        ref("write-fault-on-a-read-only-pte"),
        (("wp_swapcache_free", True),),
    ),
    Commit(
        "d4c470970d45",
        "mm: optimize do_wp_page() for fresh pages in local LRU pagevecs",
        "v5.18",
        ref("write-fault-on-a-read-only-pte"),
        (("wp_lru_drain", True),),
    ),
    Commit(
        "c145e0b47c77",
        "mm: streamline COW logic in do_swap_page()",
        "v5.18",
        ref("swap-out-and-swap-in"),
        (("swapin_refcount", True),),
    ),
    Commit(
        "3bff7e3f1f16",
        "mm/huge_memory: streamline COW logic in do_huge_pmd_wp_page()",
        "v5.18",
        ref("write-fault-on-a-pmd-mapped-thp", "vmsplice-leak-after-fork")
        + " (THP instance of CVE-2020-29374)",
        (("thp_wp_refcount", True),),
    ),
    Commit(
        "fb3d824d1a46",
        "mm/rmap: split page_dup_rmap() into page_dup_file_rmap() and page_try_dup_anon_rmap()",
        "v5.19",
        "docs/research/thp-numa.md §6: copy_present_pte() copies early only PageAnon pages "
        "(v5.9-v5.18 copy_present_page() had no PageAnon test); 5.10.y and 5.15.y took the "
        "test as a stable-only patch",
        (("fork_early_cow_anon_only", True),),
    ),
    Commit(
        "6c287605fd56",
        "mm: remember exclusively mapped anonymous pages with PG_anon_exclusive",
        "v5.19",
        ref("write-fault-on-a-read-only-pte", "fork-and-pinned-pages", "page-migration")
        + "; lore 20220224122614.94921-1-david@redhat.com",
        (("anon_exclusive", True),),
    ),
    Commit(
        "a7f226604170",
        "mm/gup: trigger FAULT_FLAG_UNSHARE when R/O-pinning a possibly shared anonymous page",
        "v5.19",
        ref("gup-read-only-references-and-pins"),
        (("ro_pin_unshare", True),),
    ),
    Commit(
        "1493a1913e34",
        "mm/swap: remember PG_anon_exclusive via a swp pte bit",
        "v5.19",
        ref("swap-out-and-swap-in"),
        (("swap_exclusive_bit", True),),
    ),
    Commit(
        "5535be309971",
        "mm/gup: fix FOLL_FORCE COW security issue and remove FOLL_COW",
        "v6.0",
        ref("gup-forced-writes") + " (CVE-2022-2590)",
        (("no_foll_cow", True),),
    ),
    Commit(
        "64fe24a3e05e",
        "mm/mprotect: try avoiding write faults for exclusive anonymous pages when changing protection",
        "v6.0",
        ref("mprotect"),
        (("mprotect_exclusive_writable", True),),
        "M",
    ),
    Commit(
        "7d8faaf15545",
        "mm/madvise: introduce MADV_COLLAPSE sync hugepage collapse",
        "v6.1",
        ref("cow-selftest") + " (cow.c's collapse cases); madvise(2): MADV_COLLAPSE since Linux 6.1",
        (("madv_collapse", True),),
        "M",
    ),
    Commit(
        "2e3468778dbe",
        "mm: remember young/dirty bit for page migrations",
        "v6.1",
        "try_to_migrate_one() records pte_young/pte_dirty in the migration entry "
        "(make_migration_entry_young/dirty), remove_migration_pte() restores them; read "
        "in mm/rmap.c and mm/migrate.c of the series (Peter Xu, 2022); x86-64 has room "
        "for the bits (migration_entry_supports_ad)",
        (("migration_entry_ad", True),),
        "M",
    ),
    Commit(
        "6a56ccbcf6c6",
        "mm/autonuma: use can_change_(pte|pmd)_writable() to replace savedwrite",
        "v6.2",
        ref("numa-scan", "numa-hinting-fault") + "; lore 20221108174652.198904-1-david@redhat.com",
        (("numa_savedwrite", False), ("numa_recompute_writable", True)),
    ),
    Commit(
        "84209e87c696",
        "mm/gup: reliable R/O long-term pinning in COW mappings",
        "v6.2",
        ref("gup-read-only-references-and-pins")
        + "; found missing by `cowlab check --strategy random` (R/O pin of the shared zero page)",
        (("ro_longterm_unshare_cow", True),),
    ),
    Commit(
        "8ac268436e6d",
        "mm/gup: disallow FOLL_LONGTERM GUP-nonfast writing to file-backed mappings",
        "v6.5",
        "docs/research/timeline-v6.18.md §B (hash from linux-next's mm-stable merge log, "
        "order before a6e79df92e4a; 6.5 MM pull): check_vma_flags() refuses FOLL_LONGTERM|"
        "FOLL_WRITE on a VMA for which vma_needs_dirty_tracking() (mm/mmap.c) holds: shared, "
        "writable, on a filesystem that writes back; shmem, hugetlbfs and private mappings pass; "
        + ref("shared-file-mappings-and-long-term-pins"),
        (("longterm_write_pin_file_refused", True),),
        "M",
    ),
    Commit(
        "a6e79df92e4a",
        "mm/gup: disallow FOLL_LONGTERM GUP-fast writing to file-backed mappings",
        "v6.5",
        "docs/research/timeline-v6.18.md §B (commit text read): gup_fast_folio_allowed() lets "
        "GUP-fast take a FOLL_LONGTERM|FOLL_WRITE pin only on anon, shmem or hugetlb folios; "
        "any other falls back to the slow path, which 8ac268436e6d refuses; "
        + ref("shared-file-mappings-and-long-term-pins"),
        (("gup_fast_longterm_write_file_fallback", True),),
        "M",
    ),
    Commit(
        "34ed8d0dcd69",
        "io_uring: rsrc: delegate VMA file-backed check to GUP",
        "v6.5",
        "docs/research/iouring-file-buffers.md §3 (hash and title in the mm-stable push of "
        "2023-06-10; release from the 6.5 merge window): io_uring's own refusal of "
        "file-backed buffers goes; 8ac268436e6d decides",
        (("iouring_delegates_file_check", True),),
    ),
    Commit(
        "d74943a2f3cd",
        "mm/gup: reintroduce FOLL_NUMA as FOLL_HONOR_NUMA_FAULT",
        "v6.5",
        ref("gup-and-numa-hinting") + "; lore 20230803143208.383663-2-david@redhat.com; Fixes 474098edac26; "
        "docs/research/history-verification.md note A1",
        (("gup_honor_numa_fault", True),),
    ),
    Commit(
        "7acddcc1ae30",
        "mm/gup: don't implicitly set FOLL_HONOR_NUMA_FAULT",
        "v6.6",
        ref("gup-and-numa-hinting") + "; patch 4 of d74943a2f3cd's series (lore 20230803143208.383663-*): "
        "is_valid_gup_args() stops adding FOLL_HONOR_NUMA_FAULT, KVM's hva_to_pfn_slow() asks for it itself; "
        "hash from mm-stable's log and the v6.6 mm merge (not checked against the v6.6 tag)",
        (("gup_numa_fault_explicit", True),),
        "M",
    ),
    Commit(
        "19eaf44954df",
        "mm: thp: support allocation of anonymous multi-size THP",
        "v6.8",
        'docs/research/timeline-v6.18.md §A (6.8 MM pull, series "Multi-size THP for '
        'anonymous memory"): alloc_anon_folio() maps a large folio of an enabled sub-PMD '
        "order by several PTEs",
        (("anon_mthp", True),),
    ),
    Commit(
        "728be28fae8c",
        "mm: migrate: remove THP mapcount check in numamigrate_isolate_page()",
        "v6.8",
        "docs/research/thp-numa.md §3: present in v6.6, absent in v6.10 (v6.8 inferred from "
        "the mm-stable order, not checked against a tag)",
        (("thp_numa_skip_shared", False),),
        "M",
    ),
    Commit(
        "f8d937761d65",
        "mm/memory: optimize fork() with PTE-mapped THP",
        "v6.9",
        "docs/research/timeline-v6.18.md §A (6.9 MM pull).  Recorded without a rule: fork "
        "copies a run of PTEs of one large folio as a batch, with the end state of copying "
        "them one by one; a maybe-pinned run still takes the per-page early COW",
    ),
    Commit(
        "cd197c3a2040",
        "mm: prohibit the last subpage from reusing the entire large folio",
        "v6.9",
        "docs/research/timeline-v6.18.md §A (6.9 MM pull; patch "
        "20240308092721.144735-1-21cnbao@gmail.com; the issue's 781a3ca5c345 was its "
        "mm-unstable hash): wp_can_reuse_anon_folio() refuses any large folio",
        (("wp_no_reuse_large", True),),
    ),
    Commit(
        "845982eb264b",
        "mm: swap: allow storage of all mTHP orders",
        "v6.10",
        "docs/research/timeline-v6.18.md §A (6.10 MM pull).  Recorded without a rule: "
        "reclaim swaps a sub-PMD folio out whole instead of splitting it; the model "
        "splits first, and on its swap device (not SWP_SYNCHRONOUS_IO) the pages come back "
        "as small pages either way",
    ),
    Commit(
        "d2136d749d76",
        "mm: support multi-size THP numa balancing",
        "v6.10",
        ref("numa-scan", "numa-hinting-fault")
        + "; docs/research/thp-numa.md (do_numa_page's 'TODO: handle PTE-mapped THP' "
        "bail-out is gone: the large folio migrates)",
        (("numa_skip_pinned_or_shared", True), ("numa_migrate_large_folio", True)),
    ),
    Commit(
        "1943f96b3816",
        "io_uring: unify io_pin_pages()",
        "v6.10",
        "docs/research/iouring-file-buffers.md §5: buffer registration pins with "
        "pin_user_pages_fast() (slow pin_user_pages() under mmap_lock before)",
        (("iouring_pin_fast", True),),
        "M",
    ),
    Commit(
        "c18160dba5ff",
        "mm: swap: reuse exclusive folio directly instead of wp page faults",
        "v6.11",
        "docs/research/timeline-v6.18.md §A (6.11 MM pull; the patch "
        "20240531104819.140218-1-21cnbao@gmail.com): do_swap_page() maps an exclusive, "
        "non-KSM folio in a VM_WRITE VMA writable and dirty on a read fault too (its order "
        "against ee86814b0562 inside v6.11 not checked)",
        (("swapin_map_writable_exclusive", True),),
    ),
    Commit(
        "ee86814b0562",
        "mm/migrate: move NUMA hinting fault folio isolation + checks under PTL",
        "v6.11",
        "docs/research/thp-numa.md §2: migrate_misplaced_folio_prepare() isolates under the "
        "page-table lock, so a refused isolation maps the entry again with the writability "
        "just computed; only a failure after the lock is dropped gives read-only",
        (("numa_isolate_under_ptl", True),),
    ),
    Commit(
        "242d12c98174",
        "mm: support large folios swap-in for sync io devices",
        "v6.12",
        "docs/research/timeline-v6.18.md §A (6.12 MM pull).  Recorded without a rule: only "
        "SWP_SYNCHRONOUS_IO devices (zram, brd) swap large folios in; the model's swap "
        "device swaps in small pages.  The oracle's VM swaps to brd, which is synchronous "
        "(drivers/block/brd.c: QUEUE_FLAG_SYNCHRONOUS, BLK_FEAT_SYNCHRONOUS from 6.11), so "
        "6.12 there may bring an mTHP back whole; cow.c's swapped-out mTHP lines agree all "
        "the same (docs/oracle-report.md): the pin and the child see the same data whether "
        "the write fault then copies a large folio's page or reuses a small exclusive one",
    ),
    Commit(
        "003fde4492c8",
        "mm: convert folio_likely_mapped_shared() to folio_maybe_mapped_shared()",
        "v6.15",
        "docs/research/timeline-v6.18.md §A (patch 20250303163014.1128035-15-david@redhat.com, "
        "6.15 MM pull; hash [V-h]): the MM owner slots of 6af8cb80d3a9 answer whether another "
        "mm maps a large folio; change_pte_range's NUMA skip uses it",
        (("folio_shared_by_mm", True),),
        "M",
    ),
    Commit(
        "1da190f4d0a6",
        "mm: Copy-on-Write (COW) reuse support for PTE-mapped THP",
        "v6.15",
        "docs/research/timeline-v6.18.md §A (6.15 MM pull; parent 6af8cb80d3a9, MM owner "
        "tracking): a PTE-mapped large anon folio is reused when this mm alone maps it and "
        "every reference is a mapping of it (or the swap cache)",
        (("wp_no_reuse_large", False), ("wp_reuse_large_exclusive", True)),
    ),
    Commit(
        "62b98015d988",
        "mm: enable khugepaged anonymous collapse on non-writable regions",
        "v6.18",
        "docs/research/timeline-v6.18.md §D; hash from the torvalds/linux master push of "
        "2025-10-03 (the v6.18 merge window's MM pull; 473b73222f3d 'mm: drop all "
        "references of writable and SCAN_PAGE_RO' follows it): __collapse_huge_page_isolate "
        "and hpage_collapse_scan_pmd no longer ask for a writable PTE, so cow.c's "
        "'collapsing after fork() (fully shared)' collapses instead of skipping",
        (("collapse_read_only", True),),
    ),
)

#: commits that exist only on a stable branch, with an effect there that no mainline
#: commit has; stable.STABLE_BRANCHES says which releases carry them
STABLE_ONLY: tuple[Commit, ...] = (
    Commit(
        "476c1dfefab8",
        "mm: Don't pin ZERO_PAGE in pin_user_pages() [6.1.y backport of c8070b787519]",
        "v6.1.130",
        "docs/research/timeline-v6.18.md §C: upstream c8070b787519 (v6.5) pins the zero "
        "page without counting it; in 6.1 try_grab_page() returns bool, and the backport's "
        "'return 0' for the zero page means failure there, so every FOLL_PIN of the zero "
        "page fails with -ENOMEM (vfio's VFIO_MAP_DMA of never-written memory) until 6.1.135",
        (("zero_page_pin_fails", True),),
    ),
)
