# Cython declarations for compiling cowlab.invariants.sanity: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport is_swap_entry, pfn_swap_entry_to_pfn, pte_is_valid, pte_pfn, pte_pmd_mapped, pte_present, pte_to_swp_entry, swp_offset
