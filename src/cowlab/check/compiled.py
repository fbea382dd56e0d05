"""Which checker modules run compiled, and the switch back to their Python source.

``pip install`` compiles ``COMPILED_MODULES`` with Cython when it can (setup.py); they
are plain Python in Cython's pure-Python mode, so the same source also runs
interpreted, which is what happens when there was no C compiler, when ``COWLAB_PURE=1``
is set (to test the interpreted mode in an install that has the extensions), and for a
module whose source changed after it was compiled (a stale extension would run old
code: the build records each source's SHA-256 in ``SOURCES_FILE`` beside it).
The model's state accessors are compiled with the checker's modules, typed by an
augmenting ``.pxd`` beside each source.  Compiled modules call each other by C calls
(``cimport``), so they run compiled together or not at all: one stale or missing
extension sends all of them to their source.  ``cowlab/__init__.py`` installs the
import hook before any of these modules is imported.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from types import ModuleType

#: the checker's modules setup.py compiles: Cython types them by their annotations
SEARCH_MODULES = (
    "cowlab.check.keyhash",
    "cowlab.check.fingerprints",
    "cowlab.check.search",
    "cowlab.check.vector_pack",
    "cowlab.check.partition",
)
#: the model's modules setup.py compiles: the state accessors, typed by the .pxd beside
#: each source (its annotations are for mypy), and the code that calls them (the kernel,
#: the promises and sanity checks, canonical renaming and the checker's model side),
#: whose .pxd cimports the accessors so that each call is a C call
MODEL_MODULES = (
    "cowlab.model.layout",
    "cowlab.model.pte",
    "cowlab.model.state.machine",
    "cowlab.model.state.page",
    "cowlab.model.state.mm",
    "cowlab.model.state.task",
    "cowlab.model.state.swap",
    "cowlab.model.state.gup",
    "cowlab.model.state.file",
    "cowlab.model.state.convert",
    "cowlab.model.state.records",
    "cowlab.model.state.rename",
    "cowlab.kernel.access",
    "cowlab.kernel.context",
    "cowlab.kernel.device",
    "cowlab.kernel.fork",
    "cowlab.kernel.frames",
    "cowlab.kernel.gup",
    "cowlab.kernel.huge_memory",
    "cowlab.kernel.hugetlb",
    "cowlab.kernel.io_uring",
    "cowlab.kernel.lru",
    "cowlab.kernel.madvise",
    "cowlab.kernel.memory",
    "cowlab.kernel.mempolicy",
    "cowlab.kernel.migrate",
    "cowlab.kernel.mmap",
    "cowlab.kernel.mprotect",
    "cowlab.kernel.mremap",
    "cowlab.kernel.numa",
    "cowlab.kernel.numa_fault",
    "cowlab.kernel.numa_fault_huge",
    "cowlab.kernel.pages",
    "cowlab.kernel.pgtable",
    "cowlab.kernel.proc_mem",
    "cowlab.kernel.step",
    "cowlab.kernel.swapfile",
    "cowlab.kernel.syscalls",
    "cowlab.kernel.task_mmu",
    "cowlab.kernel.vma",
    "cowlab.kernel.vmscan",
    "cowlab.invariants.sanity",
    "cowlab.invariants.spec",
    "cowlab.check.canon",
    "cowlab.check.por",
    "cowlab.check.model",
)
COMPILED_MODULES = SEARCH_MODULES + MODEL_MODULES
PURE_ENV = "COWLAB_PURE"
#: written by the build beside the extensions: module name -> SHA-256 of its source
SOURCES_FILE = "_compiled_sources.json"

#: modules that run from source although an extension exists, and why
source_reasons: dict[str, str] = {}


def pure_requested() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def source_sha256(path: str) -> str:
    """The digest of a module's source and of its .pxd, if it has one (the types
    compiled into the extension)."""
    digest = hashlib.sha256()
    for part in (path, os.path.splitext(path)[0] + ".pxd"):
        if os.path.isfile(part):
            with open(part, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _source_of(fullname: str) -> str:
    return os.path.join(_PACKAGE_ROOT, *fullname.split(".")) + ".py"


def _has_extension(source: str) -> bool:
    stem = os.path.splitext(source)[0]
    return any(os.path.isfile(stem + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES)


_decision: list[str] = []


def why_interpreted() -> str:
    """Why every compiled module runs from its source ("" when they run compiled, or
    when none was compiled).  Decided once per process, for all of them together."""
    if not _decision:
        _decision.append(_decide())
    return _decision[0]


def _decide() -> str:
    if pure_requested():
        return "COWLAB_PURE is set"
    built = [name for name in COMPILED_MODULES if _has_extension(_source_of(name))]
    if not built:
        return ""
    if len(built) < len(COMPILED_MODULES):
        missing = sorted(set(COMPILED_MODULES) - set(built))
        return f"only some modules were compiled ({', '.join(missing)} were not)"
    for name in COMPILED_MODULES:
        source = _source_of(name)
        reason = _stale(os.path.dirname(source), name, source)
        if reason:
            return f"{name.rpartition('.')[2]}: {reason}"
    return ""


class _SourceWhenAsked(importlib.abc.MetaPathFinder):
    """Imports a compiled module from its .py file when COWLAB_PURE is set or its
    extension was built from other source; otherwise leaves it to the normal finders
    (which prefer the extension)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED_MODULES:
            return None
        reason = why_interpreted()
        source = _source_of(fullname)
        if not reason or not os.path.isfile(source):
            return None
        source_reasons[fullname] = reason
        return importlib.util.spec_from_file_location(fullname, source)


def _stale(directory: str, fullname: str, source: str) -> str:
    """Why the extension beside ``source`` must not run ("" when it may, or when there
    is none)."""
    leaf = fullname.rpartition(".")[2]
    has_extension = any(
        os.path.isfile(os.path.join(directory, leaf + suffix))
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )
    if not has_extension:
        return ""
    try:
        with open(os.path.join(directory, SOURCES_FILE)) as f:
            built = json.load(f).get(fullname)
    except (OSError, ValueError):
        return ""  # built by hand (cythonize -i): trust it
    if built is not None and built != source_sha256(source):
        return "its source changed after it was compiled (pip install -e . rebuilds it)"
    return ""


def install_import_hook() -> None:
    if not any(isinstance(f, _SourceWhenAsked) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceWhenAsked())


def status() -> dict[str, bool]:
    """Module name -> does it run compiled?"""
    return {name: _is_extension(importlib.import_module(name)) for name in COMPILED_MODULES}


def _is_extension(module: ModuleType) -> bool:
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def in_use() -> bool:
    """Do all of the checker's compiled modules run compiled?"""
    return all(status().values())


def interpreted_note() -> str:
    """One line saying why the checker runs interpreted, or "" when it runs compiled."""
    modes = status()
    slow = [name for name, compiled in modes.items() if not compiled]
    if not slow:
        return ""
    reason = why_interpreted() or "not compiled at install (no C compiler?)"
    return f"cowlab check: running interpreted ({len(slow)} modules): {reason}"
