# Cython declarations for compiling cowlab.model.state.rename: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model.pte cimport is_swap_entry, pte_retarget, pte_target
from cowlab.model.state.machine cimport FlatMachine, nr_files, nr_processes, nr_threads
from cowlab.model.state.page cimport free_pfn, page_in_use
from cowlab.model.state.swap cimport free_swap_slot

cimport cython

cdef int WORD_OTHER, WORD_PFN, WORD_PTE, UNNAMED

@cython.locals(ti=int, d=int, depth=int)
cdef list _frames(FlatMachine m)

@cython.locals(v="int[::1]", i=int)
cdef list _refs_by_name(FlatMachine m)

cpdef bytes _frame_word_kinds(FlatMachine m, int kind_sym)

@cython.locals(v="int[::1]", base=int, at=int, i=int, word="long long", kinds=bytes)
cpdef list frame_pfns(FlatMachine m)

cdef inline int _meet(int[::1] names, int[::1] order, int count, int x) except -1

cpdef tuple first_appearance(FlatMachine m)

@cython.locals(np=int, ns=int, names="int[::1]", pfn_names="int[::1]", pfns="int[::1]",
               slot_names="int[::1]", slots="int[::1]")
cpdef FlatMachine canonical_copy(FlatMachine m)

@cython.locals(v="int[::1]", np=int, ns=int, pid=int, base=int, at=int, pte="long long",
               x=int, cache=int, i=int, j=int, word=int, pfn=int, slot=int, kinds=bytes)
cdef (int, int) _meet_every_name(FlatMachine m, int[::1] pfn_names, int[::1] pfns,
                                 int[::1] slot_names, int[::1] slots) except *

@cython.locals(i=int)
cdef bint _is_identity(FlatMachine m, int[::1] pfns, int[::1] slots) except -1

@cython.locals(names="int[::1]", i=int)
cdef object _names_of(int[::1] order, int n)

cdef inline int _renamed_pfn(int[::1] p, int pfn)

cdef inline long long _renamed_pte(long long pte, int[::1] p, int[::1] s)

cpdef FlatMachine renamed(FlatMachine m, int[::1] pfns, int[::1] slots)

@cython.locals(c=FlatMachine, old="int[::1]", new="int[::1]", at=int, i=int, j=int, src=int,
               dst=int, head=int, slot=int, pid=int, base=int, f=int, pfn=int, word=int,
               kinds=bytes)
cdef FlatMachine _renamed_by(FlatMachine m, int[::1] p, int[::1] pfns, int[::1] s,
                             int[::1] slots)

@cython.locals(j=int)
cdef inline void _copy_words(int[::1] old, int[::1] new, int src, int dst, int n)
