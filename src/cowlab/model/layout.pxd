# Types for compiling layout.py (Cython's augmenting .pxd; the .py stays the source).
# A compiled Layout is a struct of C ints, so the record bases below are C arithmetic.

cdef class Layout:
    cdef readonly object bounds
    cdef readonly object symbols
    cdef readonly int nr_pages, nr_processes, nr_vmas, nr_vpns, vpn_base, nr_threads
    cdef readonly int nr_frames, nr_holds, nr_locals, nr_slots, nr_refs, nr_files
    cdef readonly int pages, proc_vmas, proc_ptes, proc_pte_tables, proc_words, processes
    cdef readonly int frame_words, thread_words, threads, swap, refs, file_words, files, size

    cpdef int page(self, int pfn) except? -1
    cpdef int process(self, int pid) except? -1
    cpdef int vma(self, int pid, int slot) except? -1
    cpdef int pte(self, int pid, int vpn) except? -1
    cpdef int thread(self, int ti) except? -1
    cpdef int frame(self, int ti, int depth) except? -1
    cpdef int slot(self, int slot) except? -1
    cpdef int ref(self, int index) except? -1
    cpdef int file(self, int index) except? -1
