# SPDX-License-Identifier: GPL-2.0
# ruff: noqa: E501
from common import preamble
from edits_6_1 import RECLAIM, VMA_ITER_DECL, VMA_LOOP  # noqa: F401 (as on 6.1)

POINTS = """  migrate.unmapped            mm/migrate.c migrate_folio_move(), when the folio was
                              unmapped (after migrate_pages_batch's batched TLB
                              flush), before move_to_new_folio()
  do_numa_page.target_chosen  mm/memory.c do_numa_page(), before migrate_misplaced_folio()
  do_huge_pmd_numa_page.target_chosen
                              mm/huge_memory.c do_huge_pmd_numa_page(), before
                              migrate_misplaced_folio()
  gup.follow_page             mm/gup.c __get_user_pages(), before follow_page_mask()
  gup.faultin                 mm/gup.c __get_user_pages(), before faultin_page()
  reclaim.swapcache           mm/vmscan.c shrink_folio_list(), before try_to_unmap()
  fork.copy_page_range        mm/memory.c __copy_present_ptes(), before wrprotect_ptes()
"""
PREAMBLE = preamble("6.12", "6.12.117-1~deb12u1", POINTS)
MIGRATE = (
    "\t__migrate_folio_extract(dst, &old_page_state, &anon_vma);\n\tprev = dst->lru.prev;\n",
    "\t__migrate_folio_extract(dst, &old_page_state, &anon_vma);\n"
    '\t/*\n\t * cowlab: stop "migrate.unmapped": migration entries in, and the\n'
    "\t * batch's TLB flush (try_to_unmap_flush) done by migrate_pages_batch\n\t */\n"
    "\tif (old_page_state & PAGE_WAS_MAPPED)\n"
    "\t\tcowlab_stop(COWLAB_STOP_MIGRATE_UNMAPPED);\n"
    "\tprev = dst->lru.prev;\n",
)
NUMA = (
    "\tignore_writable = true;\n\n\t/* Migrate to the requested node */\n",
    "\tignore_writable = true;\n\n"
    '\t/* cowlab: stop "do_numa_page.target_chosen": PTL dropped */\n'
    "\tcowlab_stop(COWLAB_STOP_DO_NUMA_PAGE_TARGET_CHOSEN);\n\n"
    "\t/* Migrate to the requested node */\n",
)
FORK = (
    "\tif (is_cow_mapping(src_vma->vm_flags) && pte_write(pte)) {\n\t\twrprotect_ptes(src_mm, addr, src_pte, nr);\n",
    "\tif (is_cow_mapping(src_vma->vm_flags) && pte_write(pte)) {\n"
    '\t\t/*\n\t\t * cowlab: stop "fork.copy_page_range": the pin check\n'
    "\t\t * (folio_try_dup_anon_rmap_pte[s]) chose to share, not yet\n"
    "\t\t * write-protected; both PTLs are held, so it busy-waits.\n\t\t */\n"
    "\t\tcowlab_stop_atomic(COWLAB_STOP_FORK_COPY_PAGE_RANGE);\n"
    "\t\twrprotect_ptes(src_mm, addr, src_pte, nr);\n",
)
HUGE = (
    "\tspin_unlock(vmf->ptl);\n\twritable = false;\n\n\tif (!migrate_misplaced_folio(folio, vma, target_nid)) {\n",
    "\tspin_unlock(vmf->ptl);\n\twritable = false;\n\n"
    '\t/* cowlab: stop "do_huge_pmd_numa_page.target_chosen": PTL dropped */\n'
    "\tcowlab_stop(COWLAB_STOP_DO_HUGE_PMD_NUMA_PAGE_TARGET_CHOSEN);\n\n"
    "\tif (!migrate_misplaced_folio(folio, vma, target_nid)) {\n",
)
GUP = (
    "\t\tcond_resched();\n\n\t\tpage = follow_page_mask(vma, start, gup_flags, &ctx);\n"
    "\t\tif (!page || PTR_ERR(page) == -EMLINK) {\n\t\t\tret = faultin_page(",
    "\t\tcond_resched();\n\n"
    '\t\t/* cowlab: stop "gup.follow_page" (each lookup, retries too) */\n'
    "\t\tcowlab_stop(COWLAB_STOP_GUP_FOLLOW_PAGE);\n"
    "\t\tpage = follow_page_mask(vma, start, gup_flags, &ctx);\n"
    "\t\tif (!page || PTR_ERR(page) == -EMLINK) {\n"
    '\t\t\t/* cowlab: stop "gup.faultin" */\n'
    "\t\t\tcowlab_stop(COWLAB_STOP_GUP_FAULTIN);\n"
    "\t\t\tret = faultin_page(",
)
EDITS = {
    "mm/Makefile": [("obj-y += memblock.o\n", "obj-y += memblock.o\nobj-y += cowlab_stops.o\n")],
    "mm/migrate.c": [MIGRATE],
    "mm/memory.c": [NUMA, FORK],
    "mm/huge_memory.c": [HUGE],
    "mm/gup.c": [GUP],
    "mm/vmscan.c": [RECLAIM],
}
