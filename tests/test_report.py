"""Text report helpers."""

from __future__ import annotations

from cowlab.report.run_report import collapse_passes


def test_identical_migration_passes_collapse() -> None:
    lines = []
    for n in range(1, 6):
        lines += ["unmap", f"check (pass {n}/5)"]
    lines.append("putback")
    out = collapse_passes(lines)
    assert out[:2] == ["unmap", "check (pass 1/5)"]
    assert "... 3 more identical migration passes ..." in out
    assert out[-3:] == ["unmap", "check (pass 5/5)", "putback"]


def test_different_passes_are_kept() -> None:
    lines = ["a", "x (pass 1/3)", "b", "x (pass 2/3)", "c", "x (pass 3/3)"]
    assert collapse_passes(lines) == lines
