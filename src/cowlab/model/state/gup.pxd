# Types for compiling cowlab.model.state.gup with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


from cowlab.model.state.machine cimport FlatMachine

cpdef bint ref_in_use(FlatMachine m, int index)
cpdef object ref_fields(FlatMachine m, int index)
cpdef int ref_pfn(FlatMachine m, int index)
cpdef void set_ref_pfn(FlatMachine m, int index, int pfn)
cpdef object ref_name(FlatMachine m, int index)
cpdef object ref_holder(FlatMachine m, int index)
cpdef int ref_pid(FlatMachine m, int index)
cpdef bint ref_write(FlatMachine m, int index)
cpdef bint ref_longterm(FlatMachine m, int index)
cpdef int ref_named(FlatMachine m, name)
cpdef void drop_ref(FlatMachine m, int index)
cpdef void remove_ref(FlatMachine m, int index)
