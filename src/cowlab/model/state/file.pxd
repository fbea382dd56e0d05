# Types for compiling cowlab.model.state.file with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


from cowlab.model.state.machine cimport FlatMachine

cpdef int add_file(FlatMachine m not None, name, pfns, tokens)
cpdef object file_name(FlatMachine m not None, int index)
cpdef int file_named(FlatMachine m not None, name)
cpdef int file_nr_pages(FlatMachine m not None, int index)
cpdef int file_page_pfn(FlatMachine m not None, int index, int page)
cpdef void set_file_page_pfn(FlatMachine m not None, int index, int page, int pfn)
cpdef object page_cache_owner(FlatMachine m not None, int pfn)
cpdef int file_original(FlatMachine m not None, int index, int page)
