# Cython declarations for compiling cowlab.kernel.numa_fault_huge: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport pfn_pte, pte_mkdirty, pte_mkpmd_mapped, pte_mkwrite, pte_pfn
