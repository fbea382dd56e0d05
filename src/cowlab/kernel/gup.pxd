# Cython declarations for compiling cowlab.kernel.gup: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport pte_dirty, pte_pfn, pte_pmd_mapped, pte_present, pte_protnone, pte_soft_dirty, pte_write
