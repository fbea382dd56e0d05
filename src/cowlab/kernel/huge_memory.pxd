# Cython declarations for compiling cowlab.kernel.huge_memory: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport pfn_pte, pte_clear_pmd_mapped, pte_dirty, pte_mkclean, pte_mkdirty, pte_mkold, pte_mkpmd_mapped, pte_mksoft_dirty, pte_mkwrite, pte_mkyoung, pte_none, pte_pfn, pte_pmd_mapped, pte_present, pte_write, pte_wrprotect, pte_young
