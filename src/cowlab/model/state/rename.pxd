# Cython declarations for compiling cowlab.model.state.rename: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model.pte cimport is_swap_entry, pte_rename, pte_target
from cowlab.model.state.machine cimport FlatMachine, nr_files, nr_processes, nr_threads
from cowlab.model.state.page cimport free_pfn, pfns_in_use
from cowlab.model.state.swap cimport free_swap_slot

cimport cython

@cython.locals(v="int[::1]", pid=int, base=int, at=int, pte=int, x=int, cache=int, i=int, j=int,
               slot=int)
cpdef tuple first_appearance(FlatMachine m)

@cython.locals(c=FlatMachine, old="int[::1]", new="int[::1]", at=int, i=int, j=int, src=int,
               dst=int, head=int, slot=int, pid=int, base=int, f=int, pfn=int)
cpdef FlatMachine renamed(FlatMachine m, list pfns, list slots)

@cython.locals(j=int)
cdef inline void _copy_words(int[::1] old, int[::1] new, int src, int dst, int n)
