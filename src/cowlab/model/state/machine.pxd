# Types for compiling cowlab.model.state.machine with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


from cowlab.model.layout cimport Layout


cdef class FlatMachine:
    cdef readonly Layout L
    cdef readonly object vector
    cdef public int[::1] v

cpdef void _init_empty(Layout L, v)
cpdef int nr_node_ids(FlatMachine m)
cpdef bint numa_balancing_enabled(FlatMachine m)
cpdef int take_token(FlatMachine m)
cpdef int nr_processes(FlatMachine m)
cpdef int nr_threads(FlatMachine m)
cpdef int nr_files(FlatMachine m)
cpdef void set_nr_processes(FlatMachine m, int n)
cpdef void set_nr_threads(FlatMachine m, int n)
cpdef void set_nr_files(FlatMachine m, int n)
cpdef void set_next_token(FlatMachine m, int token)
cpdef int next_token(FlatMachine m)
