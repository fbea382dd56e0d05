# Types for compiling cowlab.model.state.swap with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


from cowlab.model.state.machine cimport FlatMachine

cpdef bint swap_in_use(FlatMachine m, int slot)
cpdef int swap_count(FlatMachine m, int slot)
cpdef int swap_count_add(FlatMachine m, int slot, int n)
cpdef int swap_cache_pfn(FlatMachine m, int slot)
cpdef void set_swap_cache_pfn(FlatMachine m, int slot, int pfn)
cpdef int swap_content(FlatMachine m, int slot)
cpdef void set_swap_content(FlatMachine m, int slot, int token)
cpdef int get_swap_slot(FlatMachine m)
cpdef void take_swap_slot(FlatMachine m, int slot)
cpdef void free_swap_slot(FlatMachine m, int slot)
