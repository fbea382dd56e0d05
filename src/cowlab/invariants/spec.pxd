# Cython declarations for compiling cowlab.invariants.spec: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport is_migration_entry, is_swap_entry, pfn_swap_entry_to_pfn, pte_pfn, pte_present, pte_to_swp_entry, swp_offset

cimport cython

@cython.locals(f=int, index=int, pfn=int)
cpdef list check_files(spec, m)
