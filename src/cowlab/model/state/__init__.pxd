# The accessors of cowlab.model.state, for modules that cimport the package
# (``from cowlab.model cimport state as S``): S.page_count(...) is then a C call.

from cowlab.model.state.machine cimport (
    FlatMachine, nr_node_ids, numa_balancing_enabled, take_token, nr_processes,
    nr_threads, nr_files, set_nr_processes, set_nr_threads, set_nr_files, set_next_token,
    next_token
)
from cowlab.model.state.page cimport (
    page_in_use, PageAnon, PageAnonExclusive, SetPageAnonExclusive,
    ClearPageAnonExclusive, PageLRU, SetPageLRU, PageIsolated, SetPageIsolated,
    PageLocked, set_page_locked, PageHuge, is_huge_zero_page, page_count, page_ref_add,
    page_mapcount_raw, page_mapcount_add, folio_pincount, folio_pincount_add,
    compound_mapcount, compound_mapcount_add, page_to_nid, page_content, set_page_content,
    page_swap_slot, PageSwapCache, set_page_swap_slot, page_lru_batch, set_page_lru_batch,
    compound_head, PageTransCompound, set_compound_head, alloc_pfn, free_pfn, pfns_in_use
)
from cowlab.model.state.mm cimport (
    pte_at, set_pte_at, pte_clear, pmd_has_pte_table, set_pmd_pte_table, mm_alive,
    set_mm_alive, mm_has_pinned, set_mm_has_pinned, mm_name, mm_parent, write_protect_seq,
    set_write_protect_seq, set_mm_name, set_mm_parent, clear_process, new_process,
    nr_vmas, vma_start, vma_end, vma_flags, set_vma_flags, vma_name, vma_file, vma_pgoff,
    vma_region_base, vma_base_raw, vma_lookup, remove_vma
)
from cowlab.model.state.task cimport (
    new_thread, set_task, clear_thread, task_name, task_pid, task_node, set_task_node,
    task_cpu, task_affinity, set_task_affinity, remove_thread, task_depth, push_frame,
    pop_frame, set_frame, frame_words, frame_stage, set_frame_stage, frame_result,
    set_frame_result, frame_kind, frame_locals, set_frame_locals, frame_holds,
    set_frame_holds
)
from cowlab.model.state.swap cimport (
    swap_in_use, swap_count, swap_count_add, swap_cache_pfn, set_swap_cache_pfn,
    swap_content, set_swap_content, get_swap_slot, take_swap_slot, free_swap_slot
)
from cowlab.model.state.gup cimport (
    ref_in_use, ref_fields, ref_pfn, set_ref_pfn, ref_name, ref_holder, ref_pid,
    ref_write, ref_longterm, ref_named, drop_ref, remove_ref
)
from cowlab.model.state.file cimport (
    add_file, file_name, file_named, file_nr_pages, file_page_pfn, set_file_page_pfn,
    page_cache_owner, file_original, file_fs
)
