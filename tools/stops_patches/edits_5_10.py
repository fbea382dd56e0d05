# SPDX-License-Identifier: GPL-2.0
# ruff: noqa: E501
from common import preamble

POINTS = """  migrate.unmapped            mm/migrate.c __unmap_and_move(), after try_to_unmap()
  do_numa_page.target_chosen  mm/memory.c do_numa_page(), before migrate_misplaced_page()
  gup.follow_page             mm/gup.c __get_user_pages(), before follow_page_mask()
  gup.faultin                 mm/gup.c __get_user_pages(), before faultin_page()
  reclaim.swapcache           mm/vmscan.c shrink_page_list(), before try_to_unmap()
  fork.copy_page_range        mm/memory.c copy_present_pte(), before ptep_set_wrprotect()
"""
PREAMBLE = preamble("5.10", "5.10.262-1", POINTS)
VMA_ITER_DECL = ""
VMA_LOOP = "for (vma = find_vma(mm, start); vma && vma->vm_start < end; vma = vma->vm_next)"
EDITS = {
    "mm/Makefile": [("obj-y += memblock.o\n", "obj-y += memblock.o\nobj-y += cowlab_stops.o\n")],
    "mm/migrate.c": [
        (
            "\t\ttry_to_unmap(page, TTU_MIGRATION|TTU_IGNORE_MLOCK);\n\t\tpage_was_mapped = 1;\n\t}\n",
            "\t\ttry_to_unmap(page, TTU_MIGRATION|TTU_IGNORE_MLOCK);\n\t\tpage_was_mapped = 1;\n\t}\n"
            '\n\t/* cowlab: stop "migrate.unmapped": migration entries in, TLB flushed */\n'
            "\tif (page_was_mapped && !page_mapped(page))\n"
            "\t\tcowlab_stop(COWLAB_STOP_MIGRATE_UNMAPPED);\n",
        )
    ],
    "mm/memory.c": [
        (
            "\t/* Migrate to the requested node */\n\tmigrated = migrate_misplaced_page(page, vma, target_nid);\n",
            '\t/* cowlab: stop "do_numa_page.target_chosen": PTL dropped */\n'
            "\tcowlab_stop(COWLAB_STOP_DO_NUMA_PAGE_TARGET_CHOSEN);\n\n"
            "\t/* Migrate to the requested node */\n\tmigrated = migrate_misplaced_page(page, vma, target_nid);\n",
        ),
        (
            "\tif (is_cow_mapping(vm_flags) && pte_write(pte)) {\n\t\tptep_set_wrprotect(src_mm, addr, src_pte);\n",
            "\tif (is_cow_mapping(vm_flags) && pte_write(pte)) {\n"
            '\t\t/*\n\t\t * cowlab: stop "fork.copy_page_range": the pin check\n'
            "\t\t * (copy_present_page) chose to share, not yet write-protected;\n"
            "\t\t * both PTLs are held, so it busy-waits.\n\t\t */\n"
            "\t\tif (page)\n\t\t\tcowlab_stop_atomic(COWLAB_STOP_FORK_COPY_PAGE_RANGE);\n"
            "\t\tptep_set_wrprotect(src_mm, addr, src_pte);\n",
        ),
    ],
    "mm/gup.c": [
        (
            "\t\tcond_resched();\n\n\t\tpage = follow_page_mask(vma, start, foll_flags, &ctx);\n"
            "\t\tif (!page) {\n\t\t\tret = faultin_page(vma, start, &foll_flags, locked);\n",
            "\t\tcond_resched();\n\n"
            '\t\t/* cowlab: stop "gup.follow_page" (each lookup, retries too) */\n'
            "\t\tcowlab_stop(COWLAB_STOP_GUP_FOLLOW_PAGE);\n"
            "\t\tpage = follow_page_mask(vma, start, foll_flags, &ctx);\n"
            "\t\tif (!page) {\n"
            '\t\t\t/* cowlab: stop "gup.faultin" */\n'
            "\t\t\tcowlab_stop(COWLAB_STOP_GUP_FAULTIN);\n"
            "\t\t\tret = faultin_page(vma, start, &foll_flags, locked);\n",
        )
    ],
    "mm/vmscan.c": [
        (
            "\t\t/*\n\t\t * The page is mapped into the page tables of one or more\n"
            "\t\t * processes. Try to unmap it here.\n\t\t */\n\t\tif (page_mapped(page)) {\n",
            '\t\t/* cowlab: stop "reclaim.swapcache": in the swap cache, still mapped */\n'
            "\t\tif (PageAnon(page) && PageSwapCache(page) && page_mapped(page))\n"
            "\t\t\tcowlab_stop(COWLAB_STOP_RECLAIM_SWAPCACHE);\n\n"
            "\t\t/*\n\t\t * The page is mapped into the page tables of one or more\n"
            "\t\t * processes. Try to unmap it here.\n\t\t */\n\t\tif (page_mapped(page)) {\n",
        )
    ],
}
