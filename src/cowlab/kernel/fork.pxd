# Cython declarations for compiling cowlab.kernel.fork: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport is_readable_migration_entry, is_swap_entry, make_readable_migration_entry, migration_entry_keep_ad, pfn_pte, pte_mkdirty, pte_mkold, pte_mksoft_dirty, pte_pfn, pte_present, pte_soft_dirty, pte_swp_clear_exclusive, pte_swp_exclusive, pte_swp_mksoft_dirty, pte_swp_soft_dirty, pte_to_swp_entry, pte_write, pte_wrprotect, swp_entry_to_pte, swp_offset
