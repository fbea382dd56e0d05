"""The few names of Cython's ``cython`` module that the compiled sources use, for running
those sources interpreted when Cython is not installed.

Compiled modules never import this (``import cython`` is resolved by the compiler), so
Cython is needed only to build, not to run.  Everything here is what Cython's own
shadow module does for these names: decorators return their function, casts and
declarations return the value unchanged.  Annotations are never evaluated (the sources
use ``from __future__ import annotations``), so type names are not needed here,
except those that appear in ``cast``/``declare`` calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

compiled = False


def _identity(fn: Any) -> Any:
    return fn


def _directive(*_args: Any, **_kwargs: Any) -> Callable[[Any], Any]:
    return _identity


cfunc = ccall = cclass = final = inline = _identity
boundscheck = wraparound = cdivision = exceptval = locals = returns = _directive


def cast(_type: object, value: Any, *, typecheck: bool = False) -> Any:
    return value


def declare(_type: object = None, value: Any = None, **_kwargs: Any) -> Any:
    return value


# C types named in cast()/declare() calls: only their identity matters interpreted
int = longlong = ulonglong = uint = ushort = uchar = Py_ssize_t = size_t = bint = double = void = object
