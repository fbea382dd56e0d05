# Cython declarations for compiling cowlab.kernel.access: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport pte_mkdirty, pte_mkyoung, pte_pfn, pte_present, pte_protnone, pte_write
