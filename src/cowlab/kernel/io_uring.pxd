# Cython declarations for compiling cowlab.kernel.io_uring: the accessors it calls,
# cimported so that each call is a C call (the .py beside it stays the source).


from cowlab.model cimport state as S
