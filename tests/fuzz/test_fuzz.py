"""The fuzz suite (issue 13): the real command-line entry point on generated scenarios
and check configurations, valid and mutated.  Whatever the input, a command exits with
a status that means what it says (0 held, 1 a promise broke, 2 bad input, 3 a limit)
and bad input is one located line: never a model bug (4), an internal error (5) or a
traceback.  The default run tries a fixed slice of inputs; the long run is

    .venv/bin/pytest -m fuzz tests/fuzz  (COWLAB_FUZZ_EXAMPLES=N for more)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cowlab import cli
from cowlab.exit_codes import BAD_INPUT, BROKEN, HELD, LIMIT
from cowlab.strategies import check_config_texts, scenario_texts

KERNELS = ("v4.9", "v5.8", "v5.16", "v6.2", "v6.12")
QUICK = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LONG = settings(
    max_examples=int(os.environ.get("COWLAB_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _cowlab(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(args)
    return int(done.value.code or 0), capsys.readouterr().err


def _check_outcome(code: int, err: str, path: Path, allowed: tuple[int, ...]) -> None:
    assert "Traceback" not in err, err
    assert code in allowed, f"exit {code}: {err.strip()}\n--- input:\n{path.read_text(errors='replace')}"
    if code == BAD_INPUT:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cowlab: error: "), err


def _run(text: str, kernel: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, errors="surrogateescape")
    code, err = _cowlab(["run", str(path), "-k", kernel], capsys)
    _check_outcome(code, err, path, (HELD, BROKEN, BAD_INPUT))


def _check(text: str, kernel: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, errors="surrogateescape")
    code, err = _cowlab(
        ["check", str(path), "-k", kernel, "--max-states", "300", "--time-limit", "20"], capsys
    )
    _check_outcome(code, err, path, (HELD, BROKEN, BAD_INPUT, LIMIT))


def _scenarios(mutate: bool) -> st.SearchStrategy[str]:
    return scenario_texts(mutate)


def _configs(mutate: bool) -> st.SearchStrategy[str]:
    return check_config_texts(mutate)


@pytest.mark.parametrize("mutate", [False, True])
@QUICK
@given(data=st.data())
def test_run_on_generated_scenarios(
    mutate: bool, data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(data.draw(_scenarios(mutate)), data.draw(st.sampled_from(KERNELS)), tmp_path, capsys)


@pytest.mark.parametrize("mutate", [False, True])
@settings(QUICK, max_examples=15)
@given(data=st.data())
def test_check_on_generated_configurations(
    mutate: bool, data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _check(data.draw(_configs(mutate)), data.draw(st.sampled_from(KERNELS)), tmp_path, capsys)


@pytest.mark.fuzz
@pytest.mark.parametrize("mutate", [False, True])
@LONG
@given(data=st.data())
def test_run_long(
    mutate: bool, data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(data.draw(_scenarios(mutate)), data.draw(st.sampled_from(KERNELS)), tmp_path, capsys)


@pytest.mark.fuzz
@pytest.mark.parametrize("mutate", [False, True])
@settings(LONG, max_examples=max(LONG.max_examples // 10, 10))
@given(data=st.data())
def test_check_long(
    mutate: bool, data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _check(data.draw(_configs(mutate)), data.draw(st.sampled_from(KERNELS)), tmp_path, capsys)
