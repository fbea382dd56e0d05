# Types for compiling cowlab.model.state.task with Cython.
# An augmenting .pxd: the .py beside it stays the source of behaviour; this file says
# which arguments are C ints, so that compiled callers reach the functions by C calls.


cimport cython

from cowlab.model.layout cimport Layout
from cowlab.model.state.machine cimport FlatMachine

cpdef int new_thread(FlatMachine m, name, int pid, int node, int affinity)
cpdef void set_task(FlatMachine m, int ti, name, int pid, int node, int affinity)
cpdef void clear_thread(FlatMachine m, int ti)
cpdef object task_name(FlatMachine m, int ti)
cpdef int task_pid(FlatMachine m, int ti)
cpdef int task_node(FlatMachine m, int ti)
cpdef void set_task_node(FlatMachine m, int ti, int node)
cpdef int task_cpu(FlatMachine m, int ti)
cpdef int task_affinity(FlatMachine m, int ti)
cpdef void set_task_affinity(FlatMachine m, int ti, int node)
cpdef void remove_thread(FlatMachine m, int ti)
cpdef int task_depth(FlatMachine m, int ti)
cpdef void push_frame(FlatMachine m, int ti, int stage, int kind, locals_=*, holds=*)
cpdef void pop_frame(FlatMachine m, int ti, int result=*)
cpdef void set_frame(FlatMachine m, int ti, int stage, int kind, locals_=*, holds=*, int depth=*)
cpdef object frame_words(FlatMachine m, int ti, int depth=*)
cpdef int frame_stage(FlatMachine m, int ti, int depth=*)
cpdef void set_frame_stage(FlatMachine m, int ti, int stage, int depth=*)
cpdef int frame_result(FlatMachine m, int ti, int depth=*)
cpdef void set_frame_result(FlatMachine m, int ti, int result, int depth=*)
cpdef int frame_kind(FlatMachine m, int ti, int depth=*)
cpdef object frame_locals(FlatMachine m, int ti, int n, int depth=*)
cpdef void set_frame_locals(FlatMachine m, int ti, locals_, int depth=*)
cpdef object frame_holds(FlatMachine m, int ti, int depth=*)
cpdef void set_frame_holds(FlatMachine m, int ti, holds, int depth=*)
cpdef int _frame_base(FlatMachine m, int ti, int depth)
@cython.locals(L=Layout, n=Py_ssize_t, at=int, i=int)
cpdef void _write_frame(FlatMachine m, int base, int stage, int kind, tuple locals_, tuple holds)
@cython.locals(L=Layout, n=Py_ssize_t, i=int)
cpdef void _write_holds(FlatMachine m, int base, tuple holds)
