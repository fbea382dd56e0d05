# Types for compiling cowlab.model.state.file with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


from cowlab.model.state.machine cimport FlatMachine

cpdef int add_file(FlatMachine m, name, pfns, tokens, fs=*)
cpdef object file_fs(FlatMachine m, int index)
cpdef object file_name(FlatMachine m, int index)
cpdef int file_named(FlatMachine m, name)
cpdef int file_nr_pages(FlatMachine m, int index)
cpdef int file_page_pfn(FlatMachine m, int index, int page)
cpdef void set_file_page_pfn(FlatMachine m, int index, int page, int pfn)
cpdef object page_cache_owner(FlatMachine m, int pfn)
cpdef int file_original(FlatMachine m, int index, int page)
