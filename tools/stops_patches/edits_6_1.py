# SPDX-License-Identifier: GPL-2.0
from common import preamble

POINTS = """  migrate.unmapped            mm/migrate.c __migrate_folio_unmap(), after try_to_migrate()
  do_numa_page.target_chosen  mm/memory.c do_numa_page(), before migrate_misplaced_page()
  do_huge_pmd_numa_page.target_chosen
                              mm/huge_memory.c do_huge_pmd_numa_page(), before
                              migrate_misplaced_page()
  gup.follow_page             mm/gup.c __get_user_pages(), before follow_page_mask()
  gup.faultin                 mm/gup.c __get_user_pages(), before faultin_page()
  reclaim.swapcache           mm/vmscan.c shrink_folio_list(), before try_to_unmap()
  fork.copy_page_range        mm/memory.c copy_present_pte(), before ptep_set_wrprotect()
"""
PREAMBLE = preamble("6.1", "6.1.192-3", POINTS)
VMA_ITER_DECL = "\tVMA_ITERATOR(vmi, current->mm, start);\n"
VMA_LOOP = "for_each_vma_range(vmi, vma, end)"
MIGRATE = (
    "\t\ttry_to_migrate(src, 0);\n\t\tpage_was_mapped = 1;\n\t}\n\n\tif (!folio_mapped(src)) {\n",
    "\t\ttry_to_migrate(src, 0);\n\t\tpage_was_mapped = 1;\n\t}\n\n\tif (!folio_mapped(src)) {\n"
    '\t\t/* cowlab: stop "migrate.unmapped": migration entries in, TLB flushed */\n'
    "\t\tif (page_was_mapped)\n"
    "\t\t\tcowlab_stop(COWLAB_STOP_MIGRATE_UNMAPPED);\n",
)
NUMA = (
    "\tpte_unmap_unlock(vmf->pte, vmf->ptl);\n\n\t/* Migrate to the requested node */\n",
    "\tpte_unmap_unlock(vmf->pte, vmf->ptl);\n\n"
    '\t/* cowlab: stop "do_numa_page.target_chosen": PTL dropped */\n'
    "\tcowlab_stop(COWLAB_STOP_DO_NUMA_PAGE_TARGET_CHOSEN);\n\n"
    "\t/* Migrate to the requested node */\n",
)
FORK = (
    "\tif (is_cow_mapping(vm_flags) && pte_write(pte)) {\n\t\tptep_set_wrprotect(src_mm, addr, src_pte);\n",
    "\tif (is_cow_mapping(vm_flags) && pte_write(pte)) {\n"
    '\t\t/*\n\t\t * cowlab: stop "fork.copy_page_range": the pin check\n'
    "\t\t * (page_try_dup_anon_rmap) chose to share, not yet\n"
    "\t\t * write-protected; both PTLs are held, so it busy-waits.\n\t\t */\n"
    "\t\tif (page)\n\t\t\tcowlab_stop_atomic(COWLAB_STOP_FORK_COPY_PAGE_RANGE);\n"
    "\t\tptep_set_wrprotect(src_mm, addr, src_pte);\n",
)
HUGE = (
    "\tspin_unlock(vmf->ptl);\n\n\tmigrated = migrate_misplaced_page(page, vma, target_nid);\n",
    "\tspin_unlock(vmf->ptl);\n\n"
    '\t/* cowlab: stop "do_huge_pmd_numa_page.target_chosen": PTL dropped */\n'
    "\tcowlab_stop(COWLAB_STOP_DO_HUGE_PMD_NUMA_PAGE_TARGET_CHOSEN);\n\n"
    "\tmigrated = migrate_misplaced_page(page, vma, target_nid);\n",
)
GUP = (
    "\t\tcond_resched();\n\n\t\tpage = follow_page_mask(vma, start, foll_flags, &ctx);\n"
    "\t\tif (!page || PTR_ERR(page) == -EMLINK) {\n\t\t\tret = faultin_page(",
    "\t\tcond_resched();\n\n"
    '\t\t/* cowlab: stop "gup.follow_page" (each lookup, retries too) */\n'
    "\t\tcowlab_stop(COWLAB_STOP_GUP_FOLLOW_PAGE);\n"
    "\t\tpage = follow_page_mask(vma, start, foll_flags, &ctx);\n"
    "\t\tif (!page || PTR_ERR(page) == -EMLINK) {\n"
    '\t\t\t/* cowlab: stop "gup.faultin" */\n'
    "\t\t\tcowlab_stop(COWLAB_STOP_GUP_FAULTIN);\n"
    "\t\t\tret = faultin_page(",
)
RECLAIM = (
    "\t\t/*\n\t\t * The folio is mapped into the page tables of one or more\n"
    "\t\t * processes. Try to unmap it here.\n\t\t */\n\t\tif (folio_mapped(folio)) {\n",
    '\t\t/* cowlab: stop "reclaim.swapcache": in the swap cache, still mapped */\n'
    "\t\tif (folio_test_anon(folio) && folio_test_swapcache(folio) &&\n"
    "\t\t    folio_mapped(folio))\n"
    "\t\t\tcowlab_stop(COWLAB_STOP_RECLAIM_SWAPCACHE);\n\n"
    "\t\t/*\n\t\t * The folio is mapped into the page tables of one or more\n"
    "\t\t * processes. Try to unmap it here.\n\t\t */\n\t\tif (folio_mapped(folio)) {\n",
)
EDITS = {
    "mm/Makefile": [("obj-y += memblock.o\n", "obj-y += memblock.o\nobj-y += cowlab_stops.o\n")],
    "mm/migrate.c": [MIGRATE],
    "mm/memory.c": [NUMA, FORK],
    "mm/huge_memory.c": [HUGE],
    "mm/gup.c": [GUP],
    "mm/vmscan.c": [RECLAIM],
}
