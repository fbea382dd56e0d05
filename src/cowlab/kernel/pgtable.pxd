# Cython declarations for compiling cowlab.kernel.pgtable: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport is_migration_entry, pfn_swap_entry_to_pfn, pte_mkwrite, pte_pfn, pte_present
