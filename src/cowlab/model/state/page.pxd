# Types for compiling cowlab.model.state.page with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


from cowlab.model.state.machine cimport FlatMachine

cimport cython

cpdef bint _page_flag(FlatMachine m, int pfn, int bit)
cpdef void _set_page_flag(FlatMachine m, int pfn, int bit, bint on)
cpdef bint page_in_use(FlatMachine m, int pfn)
cpdef bint PageAnon(FlatMachine m, int pfn)
cpdef bint PageAnonExclusive(FlatMachine m, int pfn)
cpdef void SetPageAnonExclusive(FlatMachine m, int pfn)
cpdef void ClearPageAnonExclusive(FlatMachine m, int pfn)
cpdef bint PageLRU(FlatMachine m, int pfn)
cpdef void SetPageLRU(FlatMachine m, int pfn, bint on=*)
cpdef bint PageIsolated(FlatMachine m, int pfn)
cpdef void SetPageIsolated(FlatMachine m, int pfn, bint on=*)
cpdef bint PageLocked(FlatMachine m, int pfn)
cpdef void set_page_locked(FlatMachine m, int pfn, bint on)
cpdef bint PageHuge(FlatMachine m, int pfn)
cpdef bint is_huge_zero_page(FlatMachine m, int pfn)
cpdef int page_count(FlatMachine m, int pfn)
cpdef int page_ref_add(FlatMachine m, int pfn, int n)
cpdef int page_mapcount_raw(FlatMachine m, int pfn)
cpdef int page_mapcount_add(FlatMachine m, int pfn, int n)
cpdef int folio_pincount(FlatMachine m, int pfn)
cpdef int folio_pincount_add(FlatMachine m, int pfn, int n)
cpdef int compound_mapcount(FlatMachine m, int head)
cpdef int compound_mapcount_add(FlatMachine m, int head, int n)
cpdef int page_to_nid(FlatMachine m, int pfn)
cpdef int page_content(FlatMachine m, int pfn)
cpdef void set_page_content(FlatMachine m, int pfn, int token)
cpdef int page_swap_slot(FlatMachine m, int pfn)
cpdef bint PageSwapCache(FlatMachine m, int pfn)
cpdef void set_page_swap_slot(FlatMachine m, int pfn, int slot)
cpdef int page_lru_batch(FlatMachine m, int pfn)
cpdef void set_page_lru_batch(FlatMachine m, int pfn, int cpu)
cpdef int compound_head(FlatMachine m, int pfn)
cpdef bint PageTransCompound(FlatMachine m, int pfn)
cpdef void set_compound_head(FlatMachine m, int pfn, int head)
@cython.locals(pfn=int)
cpdef int alloc_pfn(FlatMachine m)
cpdef void free_pfn(FlatMachine m, int pfn)
cpdef object pfns_in_use(FlatMachine m)
