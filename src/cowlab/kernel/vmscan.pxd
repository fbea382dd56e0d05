# Cython declarations for compiling cowlab.kernel.vmscan: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport pte_pfn, pte_present, pte_soft_dirty, pte_swp_exclusive, pte_swp_mkexclusive, pte_swp_mksoft_dirty, swp_entry, swp_entry_to_pte
