# Cython declarations for compiling cowlab.model.state.records: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model.state.machine cimport FlatMachine, next_token, nr_node_ids, numa_balancing_enabled
from cowlab.model.state.page cimport page_in_use
