"""Compiles the model checker's hot modules with Cython, when it can.

The modules (cowlab.check.compiled.COMPILED_MODULES) are plain Python in Cython's
pure-Python mode.  Each becomes an *optional* extension: without Cython, without a C
compiler, or if compiling fails, the install still succeeds and they run interpreted.
Beside the extensions the build writes the SHA-256 of each compiled source, so that
an extension whose source changed since is not used (cowlab.check.compiled).
Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"


def _compiled_module() -> object:
    """cowlab.check.compiled, loaded from its file (the package's dependencies are not
    installed while it builds); it imports only the standard library."""
    path = SRC / "cowlab" / "check" / "compiled.py"
    spec = importlib.util.spec_from_file_location("_cowlab_compiled", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPILED = _compiled_module()


def _source(name: str) -> Path:
    return SRC.joinpath(*name.split(".")).with_suffix(".py")


def _warn(message: str) -> None:
    print(f"cowlab setup: {message}; the checker will run interpreted", file=sys.stderr)


def extensions() -> list[Extension]:
    if os.environ.get("COWLAB_NO_COMPILE"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed")
        return []

    def group(names: tuple[str, ...]) -> list[Extension]:
        return [Extension(name, [str(_source(name).relative_to(ROOT))], optional=True) for name in names]

    try:
        # the checker's modules are typed by their annotations (cython.int, ...); the
        # model's by the .pxd beside each source, whose annotations are for mypy
        return cythonize(
            group(COMPILED.SEARCH_MODULES),
            build_dir="build/cython",  # type: ignore[attr-defined]
            quiet=True,
            compiler_directives={"language_level": 3},
        ) + cythonize(
            group(COMPILED.MODEL_MODULES),
            build_dir="build/cython",  # type: ignore[attr-defined]
            quiet=True,
            include_path=["src"],
            compiler_directives={"language_level": 3, "annotation_typing": False, "nonecheck": True},
        )
    except Exception as exc:  # a Cython error: leave the modules interpreted
        _warn(f"Cython failed ({exc})")
        return []


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install, and records the sources it compiled."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:  # one C compiler per core: the model is some forty modules
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all, or a broken toolchain
            _warn(f"building the extensions failed ({exc})")
            return
        self._record_sources()

    def _record_sources(self) -> None:
        build_py = self.get_finalized_command("build_py")
        records: dict[Path, dict[str, str]] = {}
        for ext in self.extensions:
            inplace_file, regular_file = self._get_inplace_equivalent(build_py, ext)
            if not os.path.exists(regular_file):
                _warn(f"{ext.name} was not compiled")
                continue
            digest = COMPILED.source_sha256(str(_source(ext.name)))  # type: ignore[attr-defined]
            targets = {Path(regular_file).parent}
            if self.inplace:
                targets.add(Path(inplace_file).parent)
            for directory in targets:
                records.setdefault(directory, {})[ext.name] = digest
        for directory, digests in records.items():
            path = directory / COMPILED.SOURCES_FILE  # type: ignore[attr-defined]
            path.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
