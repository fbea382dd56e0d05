# Cython declarations for compiling cowlab.kernel.mprotect: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport is_writable_migration_entry, make_readable_exclusive_migration_entry, make_readable_migration_entry, migration_entry_keep_ad, migration_entry_mode, pte_dirty, pte_mk_savedwrite, pte_mkwrite, pte_modify, pte_none, pte_pfn, pte_present, pte_protnone, pte_soft_dirty, pte_swp_mksoft_dirty, pte_swp_soft_dirty, pte_to_swp_entry, pte_write, swp_entry_to_pte, swp_offset
