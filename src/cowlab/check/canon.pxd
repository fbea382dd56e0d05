# Cython declarations for compiling cowlab.check.canon: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model.pte cimport is_migration_entry, is_swap_entry, pte_present, pte_rename, pte_target
from cowlab.model.state.rename cimport canonical_copy
