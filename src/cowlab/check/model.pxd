# Cython declarations for compiling cowlab.check.model: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
from cowlab.model.pte cimport pte_pfn, pte_present
