"""Exit statuses through the real entry point (``cowlab.cli.main``): a crash is never a
finding, every error is one line, and a model bug leaves a report."""

from __future__ import annotations

from pathlib import Path

import pytest

from cowlab import cli, exit_codes
from cowlab.kernel.context import ModelBugError


def exit_status(*args: str) -> int:
    with pytest.raises(SystemExit) as stop:
        cli.main(list(args))
    code = stop.value.code
    assert isinstance(code, int)
    return code


def test_findings_keep_their_statuses() -> None:
    assert exit_status("run", "gaudi", "-k", "v5.16") == exit_codes.BROKEN
    assert exit_status("run", "gaudi", "-k", "v5.17") == exit_codes.HELD


def test_usage_errors_are_one_line_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (("frob",), ("run", "gaudi", "--kernel"), ("check", "gaudi-open", "--max-states", "0")):
        assert exit_status(*args) == exit_codes.BAD_INPUT
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cowlab: error: "), lines


def test_messages_are_printed_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    """No emoji or markup expansion: ":100:" in a name stays ":100:"."""
    assert exit_status("run", "line100.yaml:100:[bold]x[/bold]") == exit_codes.BAD_INPUT
    assert "line100.yaml:100:[bold]x[/bold]" in capsys.readouterr().err


def test_an_unexpected_exception_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "run_scenario", crash)
    monkeypatch.setattr(cli, "_debug", [False])
    assert exit_status("run", "gaudi") == exit_codes.INTERNAL
    err = capsys.readouterr().err
    assert err.strip() == (
        "cowlab: internal error: RuntimeError: boom (a bug in cowlab; --debug shows the traceback)"
    )
    assert exit_status("--debug", "run", "gaudi") == exit_codes.INTERNAL
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_model_bug_exits_4_and_saves_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def model_bug(*_args: object, **_kwargs: object) -> None:
        raise ModelBugError("refcount 2 but 3 owners")

    scenario = tmp_path / "sc.yaml"
    scenario.write_text("name: sc\n")
    monkeypatch.setattr(cli, "run_scenario", model_bug)
    monkeypatch.setattr(cli, "load_named", lambda name: name)
    monkeypatch.setenv("COWLAB_CACHE", str(tmp_path / "cache"))
    assert exit_status("run", str(scenario)) == exit_codes.MODEL_BUG
    err = capsys.readouterr().err
    assert err.startswith("cowlab: model bug: refcount 2 but 3 owners")
    (report,) = (tmp_path / "cache" / "bug-reports").iterdir()
    assert str(report) in err
    text = report.read_text()
    assert f"command: cowlab run {scenario}" in text and "name: sc" in text
    assert "ModelBugError: refcount 2 but 3 owners" in text


def test_an_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_scenario", interrupted)
    assert exit_status("run", "gaudi") == exit_codes.INTERRUPTED


def test_every_command_documents_the_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "check", "bisect", "matrix", "export-c", "kernels", "catalog"):
        assert exit_status(command, "--help") == exit_codes.HELD
        out = " ".join(capsys.readouterr().out.split())
        assert "4 a bug in cowlab's model, 5 any other internal error" in out, command


@pytest.mark.parametrize(
    "args",
    [
        ("--time-limit", "0"),
        ("--time-limit", "-1"),
        ("--time-limit", "nan"),
        ("--time-limit", "inf"),
        ("--memory-limit", "0"),
        ("--checkpoint-every", "-1"),
        ("--checkpoint-every", "nan"),
    ],
)
def test_limits_must_be_positive(args: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status("check", "gaudi-open", *args) == exit_codes.BAD_INPUT
    assert capsys.readouterr().err.startswith(f"cowlab: error: {args[0]}: ")


def test_an_output_into_a_missing_directory_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "no" / "such" / "out")
    for args in (
        ("run", "gaudi", "--html", missing),
        ("check", "gaudi-open", "--emit-scenario", missing),
        ("check", "gaudi-open", "--checkpoint", missing),
        ("export-c", "gaudi", "-o", missing),
    ):
        assert exit_status(*args) == exit_codes.BAD_INPUT
        assert "does not exist" in capsys.readouterr().err


def test_version_and_python_dash_m(capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    from cowlab import __version__

    assert exit_status("--version") == exit_codes.HELD
    assert capsys.readouterr().out.strip() == f"cowlab {__version__}"
    ran = subprocess.run(
        [sys.executable, "-m", "cowlab", "run", "gaudi", "-k", "v5.16"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == exit_codes.BROKEN and "pin_coherence" in ran.stdout
