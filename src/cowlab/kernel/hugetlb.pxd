# Cython declarations for compiling cowlab.kernel.hugetlb: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport pfn_pte, pte_mkdirty, pte_none, pte_pfn, pte_present, pte_write, pte_wrprotect
