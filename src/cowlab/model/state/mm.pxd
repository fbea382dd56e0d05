# Types for compiling cowlab.model.state.mm with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


from cowlab.model.state.machine cimport FlatMachine

cpdef int pte_at(FlatMachine m, int pid, int vpn)
cpdef void set_pte_at(FlatMachine m, int pid, int vpn, int pte)
cpdef void pte_clear(FlatMachine m, int pid, int vpn)
cpdef bint pmd_has_pte_table(FlatMachine m, int pid, int vpn)
cpdef void set_pmd_pte_table(FlatMachine m, int pid, int vpn, bint on)
cpdef object _pte_table_bit(FlatMachine m, int pid, int vpn)
cpdef bint mm_alive(FlatMachine m, int pid)
cpdef void set_mm_alive(FlatMachine m, int pid, bint on)
cpdef bint mm_has_pinned(FlatMachine m, int pid)
cpdef void set_mm_has_pinned(FlatMachine m, int pid, bint on=*)
cpdef void _set_mm_flag(FlatMachine m, int pid, int bit, bint on)
cpdef object mm_name(FlatMachine m, int pid)
cpdef int mm_parent(FlatMachine m, int pid)
cpdef int write_protect_seq(FlatMachine m, int pid)
cpdef void set_write_protect_seq(FlatMachine m, int pid, int seq)
cpdef void set_mm_name(FlatMachine m, int pid, name)
cpdef void set_mm_parent(FlatMachine m, int pid, int parent)
cpdef void clear_process(FlatMachine m, int pid)
cpdef int new_process(FlatMachine m, name, int parent=*)
cpdef int nr_vmas(FlatMachine m, int pid)
cpdef int _vma_field(FlatMachine m, int pid, int slot, int f)
cpdef int vma_start(FlatMachine m, int pid, int slot)
cpdef int vma_end(FlatMachine m, int pid, int slot)
cpdef int vma_flags(FlatMachine m, int pid, int slot)
cpdef void set_vma_flags(FlatMachine m, int pid, int slot, int flags)
cpdef object vma_name(FlatMachine m, int pid, int slot)
cpdef object vma_file(FlatMachine m, int pid, int slot)
cpdef int vma_pgoff(FlatMachine m, int pid, int slot)
cpdef int vma_region_base(FlatMachine m, int pid, int slot)
cpdef int vma_base_raw(FlatMachine m, int pid, int slot)
cpdef int vma_lookup(FlatMachine m, int pid, int vpn)
cpdef void remove_vma(FlatMachine m, int pid, int slot)
