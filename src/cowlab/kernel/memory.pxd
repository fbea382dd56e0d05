# Cython declarations for compiling cowlab.kernel.memory: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport is_migration_entry, is_swap_entry, pfn_pte, pfn_swap_entry_to_pfn, pte_mkdirty, pte_mksoft_dirty, pte_mkwrite, pte_mkyoung, pte_none, pte_pfn, pte_pmd_mapped, pte_present, pte_protnone, pte_soft_dirty, pte_swp_exclusive, pte_swp_soft_dirty, pte_to_swp_entry, pte_write, swp_offset
