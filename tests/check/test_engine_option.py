"""`cowlab check --engine/--workers/--address`: bad combinations and a missing Ray are
one-line errors (exit 2) before any search."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cowlab.cli import app
from cowlab.exit_codes import BAD_INPUT as EXIT_BAD_INPUT


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "gaudi-open", "-k", "v5.8", *args])
    return result.exit_code, result.output


def test_without_the_ray_extra_engine_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from cowlab.check import ray_engine

    monkeypatch.setattr(ray_engine, "ray_installed", lambda: False)
    code, out = _check("--engine", "ray")
    assert code == EXIT_BAD_INPUT
    assert out.strip() == "cowlab: error: --engine ray needs Ray: pip install 'cowlab[ray]'"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "2", "--strategy", "dfs"), "the parallel search is breadth-first (or a swarm"),
        (("--address", "auto"), "--address: only with --engine ray"),
        (("--workers", "2", "--checkpoint", "a", "--resume", "b"), "keeps its checkpoints in one directory"),
    ],
)
def test_parallel_options_that_do_not_go_together(args: tuple[str, ...], message: str) -> None:
    code, out = _check(*args)
    assert code == EXIT_BAD_INPUT
    assert message in out and len(out.strip().splitlines()) == 1


def test_two_worker_processes_report_their_exchange() -> None:
    code, out = _check("--workers", "2")
    assert code == 0
    assert "2 workers (processes):" in out and "bytes a distinct state" in out


def test_an_address_where_no_ray_cluster_answers_is_one_line_at_once() -> None:
    """Ray itself would retry for minutes; the run says so at once (exit 2)."""
    import socket

    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out = _check("--engine", "ray", "--address", f"127.0.0.1:{port}")
    assert code == EXIT_BAD_INPUT
    assert f"--address 127.0.0.1:{port}: no Ray cluster answers there" in out
    assert len(out.strip().splitlines()) == 1
