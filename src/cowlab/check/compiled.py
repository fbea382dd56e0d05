"""Which checker modules run compiled, and the switch back to their Python source.

``pip install`` compiles ``COMPILED_MODULES`` with Cython when it can (setup.py); they
are plain Python in Cython's pure-Python mode, so the same source also runs
interpreted, which is what happens when there was no C compiler, when ``COWLAB_PURE=1``
is set (to test the interpreted mode in an install that has the extensions), and for a
module whose source changed after it was compiled (a stale extension would run old
code: the build records each source's SHA-256 in ``SOURCES_FILE`` beside it).
``cowlab.check`` installs the import hook before any of these modules is imported.
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

#: modules setup.py compiles (each defines COMPILED = cython.compiled)
COMPILED_MODULES = ("cowlab.check.keyhash", "cowlab.check.fingerprints", "cowlab.check.search")
PURE_ENV = "COWLAB_PURE"
#: written by the build beside the extensions: module name -> SHA-256 of its source
SOURCES_FILE = "_compiled_sources.json"

#: modules that run from source although an extension exists, and why
source_reasons: dict[str, str] = {}


def pure_requested() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def source_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class _SourceWhenAsked(importlib.abc.MetaPathFinder):
    """Imports a compiled module from its .py file when COWLAB_PURE is set or its
    extension was built from other source; otherwise leaves it to the normal finders
    (which prefer the extension)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED_MODULES or not path:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, leaf + ".py")
            if not os.path.isfile(source):
                continue
            reason = "COWLAB_PURE is set" if pure_requested() else _stale(entry, fullname, source)
            if not reason:
                return None
            source_reasons[fullname] = reason
            return importlib.util.spec_from_file_location(fullname, source)
        return None


def _stale(directory: str, fullname: str, source: str) -> str:
    """Why the extension beside ``source`` must not run ("" when it may, or when there
    is none)."""
    leaf = fullname.rpartition(".")[2]
    has_extension = any(os.path.isfile(os.path.join(directory, leaf + suffix))
                        for suffix in importlib.machinery.EXTENSION_SUFFIXES)
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
    return {name: bool(getattr(importlib.import_module(name), "COMPILED", False))
            for name in COMPILED_MODULES}


def in_use() -> bool:
    """Do all of the checker's compiled modules run compiled?"""
    return all(status().values())


def interpreted_note() -> str:
    """One line saying why the checker runs interpreted, or "" when it runs compiled."""
    modes = status()
    slow = [name for name, compiled in modes.items() if not compiled]
    if not slow:
        return ""
    reasons = sorted({source_reasons.get(name, "not compiled at install (no C compiler?)")
                      for name in slow})
    names = ", ".join(name.rpartition(".")[2] for name in slow)
    return f"cowlab check: running interpreted ({names}): {'; '.join(reasons)}"
