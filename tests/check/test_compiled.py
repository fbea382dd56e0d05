"""Compiled and interpreted modes: the switch, the one-line note, and the shim."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from cowlab.check import _cython_shim, compiled


def _run(code: str, **env: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, **env}
    ).stdout


def test_cowlab_pure_runs_the_source() -> None:
    out = _run(
        "import json; from cowlab.check import compiled as c;"
        "print(json.dumps([c.status(), c.interpreted_note()]))",
        COWLAB_PURE="1",
    )
    status, note = json.loads(out)
    assert set(status) == set(compiled.COMPILED_MODULES) and not any(status.values())
    assert "COWLAB_PURE is set" in note and "\n" not in note


def test_pure_and_default_modes_give_the_same_search() -> None:
    code = (
        "import json; from cowlab.check.runner import run_check; from cowlab.history import kernel_at;"
        "from cowlab.scenario.catalog import load_named_config as c;"
        "r = run_check(c('gaudi-open'), kernel_at('v5.16')).result;"
        "print(json.dumps([r.outcome, r.stats.distinct, r.stats.transitions,"
        " [list(t) for t in r.trace]]))"
    )
    assert _run(code, COWLAB_PURE="1") == _run(code, COWLAB_PURE="")


def test_the_shim_has_every_cython_name_the_sources_evaluate() -> None:
    """Decorators, casts and declarations run interpreted; annotations are never
    evaluated.  Every ``cython.X`` outside an annotation must exist in the shim."""
    for name in compiled.COMPILED_MODULES:
        tree = ast.parse(Path(compiled._source_of(name)).read_text())
        annotations = {id(n) for node in ast.walk(tree) for a in _annotations(node) for n in ast.walk(a)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "cython"
                and id(node) not in annotations
            ):
                assert hasattr(_cython_shim, node.attr), f"{name}: cython.{node.attr}"


def _annotations(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.AnnAssign):
        return [node.annotation]
    if isinstance(node, ast.arg) and node.annotation is not None:
        return [node.annotation]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
        return [node.returns]
    return []


def test_a_stale_extension_is_not_used(tmp_path: Path) -> None:
    """An extension whose recorded source digest differs runs from source instead."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "keyhash.py").write_text("COMPILED = False\n")
    suffix = compiled.importlib.machinery.EXTENSION_SUFFIXES[0]
    (package / f"keyhash{suffix}").write_bytes(b"not really an extension")
    (package / compiled.SOURCES_FILE).write_text(json.dumps({"cowlab.check.keyhash": "0" * 64}))
    reason = compiled._stale(str(package), "cowlab.check.keyhash", str(package / "keyhash.py"))
    assert "source changed" in reason
    digest = compiled.source_sha256(str(package / "keyhash.py"))
    (package / compiled.SOURCES_FILE).write_text(json.dumps({"cowlab.check.keyhash": digest}))
    assert compiled._stale(str(package), "cowlab.check.keyhash", str(package / "keyhash.py")) == ""


def test_one_stale_module_sends_every_compiled_module_to_its_source(monkeypatch) -> None:
    """Compiled modules call each other by C calls: they run compiled together or not
    at all, and the note says which source changed."""
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    monkeypatch.setattr(compiled, "_has_extension", lambda source: True)
    stale = "cowlab.model.state.page"
    monkeypatch.setattr(
        compiled, "_stale", lambda directory, name, source: "its source changed" if name == stale else ""
    )
    assert compiled._decide() == "page: its source changed"
    monkeypatch.setattr(compiled, "_has_extension", lambda source: not source.endswith("mm.py"))
    assert "cowlab.model.state.mm were not" in compiled._decide()
