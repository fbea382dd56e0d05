# Cython declarations for compiling cowlab.model.state.convert: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model.state.file cimport add_file, file_name, file_nr_pages, file_original, file_page_pfn
from cowlab.model.state.machine cimport FlatMachine, next_token, nr_files, nr_node_ids, nr_processes, nr_threads, numa_balancing_enabled, set_nr_files, set_nr_processes, set_nr_threads
