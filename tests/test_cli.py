"""The command line: exit statuses, JSON shape, one-line errors."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cowlab.cli import app
from cowlab.report.catalog_report import summary

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_run_gaudi_breaks_on_v5_16_with_exit_1() -> None:
    result = invoke("run", "gaudi", "--kernel", "v5.16")
    assert result.exit_code == 1
    assert "do_wp_page: refcount 1025 != 1 -> copy" in result.output
    assert "(09854ba94c6a)" in result.output
    assert "pin_coherence at step 9" in result.output


@pytest.mark.parametrize("kernel", ["v5.8", "v5.17", "v6.2"])
def test_run_gaudi_holds_with_exit_0(kernel: str) -> None:
    result = invoke("run", "gaudi", "--kernel", kernel)
    assert result.exit_code == 0, result.output
    assert "all promises held" in result.output


def test_revert_restores_the_old_behaviour() -> None:
    assert invoke("run", "gaudi", "-k", "v5.16", "--revert", "09854ba94c6a").exit_code == 0


def test_json_has_the_promised_keys() -> None:
    result = invoke("run", "gaudi", "--kernel", "v5.16", "--json")
    data = json.loads(result.stdout)
    assert {"scenario", "kernel", "steps", "violations"} <= data.keys()
    first = data["violations"][0]
    assert first == {"invariant": "pin_coherence", "step": 9, "detail": first["detail"]}
    assert data["steps"][9]["action"] == "write"
    assert any(e.get("commit") == "09854ba94c6a" for e in data["steps"][9]["events"])


def test_kernels_and_catalog_list_things() -> None:
    out = invoke("kernels").output
    assert "80d47f5de5e3" in out and "numa_skip_refcount" in out
    out = invoke("catalog").output
    for name in (
        "gaudi",
        "gaudi-affinity",
        "gaudi-no-numa-balancing",
        "iouring-mprotect",
        "vmsplice-child",
        "rdma-fork",
    ):
        assert name in out


def test_list_stages() -> None:
    out = invoke("run", "--list-stages").output
    assert "migrate.unmapped" in out and "do_numa_page.target_chosen" in out


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_unknown_kernel_is_one_line_exit_2() -> None:
    result = invoke("run", "gaudi", "--kernel", "v9.9")
    assert result.exit_code == 2
    assert "unknown kernel 'v9.9'" in _error_line(result)


def test_unknown_commit_to_revert_is_one_line_exit_2() -> None:
    result = invoke("run", "gaudi", "--revert", "0123456789ab")
    assert result.exit_code == 2
    assert "unknown commit" in _error_line(result)


def test_unknown_scenario_is_one_line_exit_2() -> None:
    result = invoke("run", "no-such-scenario")
    assert result.exit_code == 2
    assert "no-such-scenario" in _error_line(result)


BAD_STEPS = {
    "unknown thread": ("  - T9: {write: buf}\n", "steps[1].T9"),
    "resume of a running thread": ("  - T1: resume\n", "steps[1]"),
    "unknown stage": ("  - T1: {write: buf, until: no.such.stage}\n", "steps[1].T1.until"),
    "unmapped region": ("  - T1: {write: nope}\n", "steps[1]"),
    "dma through a missing pin": ("  - device: {dma_write: nopin}\n", "steps[1]"),
}


@pytest.mark.parametrize("case", sorted(BAD_STEPS))
def test_bad_steps_name_file_line_and_field(case: str, tmp_path: Path) -> None:
    step, field = BAD_STEPS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nprocesses:\n  - name: P\n    threads: [{name: T1}]\nsteps:\n  - T1: {mmap: buf}\n" + step
    )
    result = invoke("run", str(path))
    assert result.exit_code == 2, result.output
    line = _error_line(result)
    assert f"{path}:7:" in line
    assert field in line


def test_check_exit_statuses(tmp_path: Path) -> None:
    out = tmp_path / "ce.yaml"
    broken = invoke("check", "gaudi-open", "--kernel", "v5.16", "--emit-scenario", str(out))
    assert broken.exit_code == 1, broken.output
    assert "violation: pin_coherence" in broken.output
    replay = invoke("run", str(out), "--kernel", "v5.16")
    assert replay.exit_code == 1 and "BROKEN pin_coherence" in replay.output
    assert invoke("check", "gaudi-open", "--kernel", "v6.2").exit_code == 0
    limited = invoke("check", "gaudi-open", "--kernel", "v5.8", "--max-states", "50")
    assert limited.exit_code == 3 and "stopped by max-states" in limited.output


def test_check_json() -> None:
    result = invoke("check", "gaudi-open", "--kernel", "v5.16", "--json")
    data = json.loads(result.stdout)
    assert data["outcome"] == "violation"
    assert data["violation"]["invariant"] == "pin_coherence" and data["violation"]["reproduced"]
    assert {"distinct", "transitions", "max_depth", "seconds", "peak_memory_mb"} <= data["stats"].keys()


def test_check_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nprocesses:\n  - name: P\n    threads: [{name: T1}]\nprograms:\n  T9: [{mmap: buf}]\n"
    )
    result = invoke("check", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:6: programs.T9" in _error_line(result)
    assert invoke("check", "gaudi-open", "--strategy", "sideways").exit_code == 2


def test_bisect_and_matrix_commands() -> None:
    out = invoke("bisect", "gaudi", "--good", "v5.8", "--bad", "v5.16")
    assert out.exit_code == 0
    assert "first change: 09854ba94c6a" in out.output and "first bad" in out.output
    data = json.loads(invoke("bisect", "rdma-fork", "--good", "v5.8", "--bad", "v5.9", "--json").stdout)
    assert data["first"]["commit"] == "70e806e4e645" and data["first"]["direction"] == "first good"
    data = json.loads(invoke("matrix", "gaudi*", "--kernels", "v5.16,v5.17", "--json").stdout)
    verdicts = {s["name"]: s["verdicts"] for s in data["scenarios"]}
    assert verdicts["gaudi"]["v5.16"]["cow_c"] == "not ok: Longterm R/W pin is reliable"
    assert verdicts["gaudi"]["v5.17"]["verdict"] == "holds"
    assert invoke("matrix", "nothing-like-this*").exit_code == 2
    assert invoke("bisect", "gaudi", "--good", "v5.10.3", "--bad", "v6.1.192").exit_code == 2


def test_export_c(tmp_path: Path) -> None:
    out = tmp_path / "rdma.c"
    result = invoke("export-c", "rdma-fork", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "pin_coherence" in out.read_text()
    refused = invoke("export-c", "gaudi", "-o", str(tmp_path / "g.c"))
    assert refused.exit_code == 2
    assert "steps[6] T1 read" in _error_line(refused)


def test_oracle_run_on_the_host_kernel() -> None:
    import shutil

    if not shutil.which("gcc") or not Path("/usr/include/liburing.h").exists():
        pytest.skip("gcc and liburing-dev are installed by .ci/run (rdma-fork pins with io_uring)")
    result = invoke("oracle", "run", "rdma-fork", "vmsplice-child", "--kernels", "host", "--json")
    assert result.exit_code == 0, result.output
    cells = json.loads(result.stdout)
    assert {(c["scenario"], c["agree"]) for c in cells} == {("rdma-fork", True), ("vmsplice-child", True)}
    # what ran and what it was compared with: this kernel, and the model's nearest to it
    assert {(c["release"], c["booted"]) for c in cells} == {(platform.release(), "")}
    assert all(c["model_kernel"].startswith("v") for c in cells)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kernels", "4.19"], "unknown kernel '4.19'"),
        (["--kernels", "6.1", "--pins", "dma"], "unknown pins='dma'"),
    ],
)
def test_oracle_run_bad_kernel_or_lever(args: list[str], message: str) -> None:
    result = invoke("oracle", "run", "rdma-fork", *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_run_html_report(tmp_path: Path) -> None:
    from html.parser import HTMLParser

    out = tmp_path / "gaudi.html"
    assert invoke("run", "gaudi", "-k", "v5.16", "--html", str(out)).exit_code == 1
    page = out.read_text()
    assert "do_wp_page: refcount 1025 != 1 -&gt; copy" in page
    assert 'class="broken">BROKEN pin_coherence' in page
    HTMLParser().feed(page)


def test_matrix_exits_0_when_every_cell_is_as_declared() -> None:
    """gaudi declares 09854ba94c6a (broke it) and 80d47f5de5e3 (fixed it): the model's
    cells on either side agree, so a CI job gating on the matrix passes."""
    result = invoke("matrix", "gaudi", "dirty-cow", "--kernels", "v5.8,v5.16,v5.17,v5.10.262")
    assert result.exit_code == 0, result.output
    assert "not as expected" not in result.output


def test_matrix_exits_1_and_names_each_cell_not_as_expected() -> None:
    result = invoke("matrix", "gaudi", "--kernels", "v5.8,v5.16,v5.17", "--expect", "holds")
    assert result.exit_code == 1
    assert "not as expected: gaudi on v5.16: broken: pin_coherence, no_lost_write (expected: holds)" in (
        result.output
    )
    data = json.loads(invoke("matrix", "gaudi", "--kernels", "v5.16", "--expect", "holds", "--json").output)
    assert data["differences"] == [
        {
            "scenario": "gaudi",
            "kernel": "v5.16",
            "expected": "holds",
            "verdict": "broken: pin_coherence, no_lost_write",
        }
    ]


def test_a_reverted_fix_is_declared_broken_and_the_model_agrees() -> None:
    """The declaration follows the kernel's commits: v5.17 without 80d47f5de5e3 is
    declared broken, and the model breaks the pin there too."""
    from cowlab.engine.matrix import declared_verdict
    from cowlab.history import kernel_at
    from cowlab.scenario.catalog import load_builtin

    gaudi = load_builtin("gaudi")
    assert declared_verdict(gaudi, kernel_at("v5.17")) == "holds"
    assert declared_verdict(gaudi, kernel_at("v5.17", ("80d47f5de5e3",))) == "broken"
    assert declared_verdict(gaudi, kernel_at("v5.10.262")) == "holds"  # the backport
    assert invoke("run", "gaudi", "-k", "v5.17", "--revert", "80d47f5de5e3").exit_code == 1


def test_bisect_exits_3_when_the_verdict_never_changes() -> None:
    result = invoke("bisect", "gaudi", "--good", "v5.17", "--bad", "v6.12")
    assert result.exit_code == 3
    assert "the verdict does not change between them" in result.output
    assert invoke("bisect", "gaudi", "--good", "v5.8", "--bad", "v5.16").exit_code == 0


def test_check_offers_its_strategies_as_choices() -> None:
    result = invoke("check", "gaudi-open", "--strategy", "bogus")
    assert result.exit_code == 2
    assert "bogus" in result.output


def test_the_catalog_never_cuts_a_name_or_a_selftest_case() -> None:
    """At 80 columns every name is whole, and a summary folds over lines: cow.c's result
    names keep their backing ("Basic COW after fork() ... with base page"), and the "..."
    cow.c prints before it ends no sentence."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cowlab", "catalog"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    assert "cow-basic-fork-base" in lines
    at = lines.index("cow-basic-fork-base") + 1
    folded = " ".join(line.strip() for line in lines[at : at + 3])
    assert folded == (
        "Basic COW after fork() ... with base page: The parent forks, the child snapshots the page, "
        "and the parent writes it; the parent's write fault must copy the still-shared page so "
        "the child keeps reading the old data"
    )
    assert all(len(line.rstrip()) <= 80 for line in lines)
    # a selftest's "fork() ... with" is no sentence end
    assert summary("Basic COW after fork() ... with base page. The parent forks.") == (
        "Basic COW after fork() ... with base page"
    )


def test_catalog_json_and_show() -> None:
    data = json.loads(invoke("catalog", "--json").output)
    gaudi = next(s for s in data["scenarios"] if s["name"] == "gaudi")
    assert gaudi["introduced_by"] == ["09854ba94c6a"] and gaudi["fixed_by"] == ["80d47f5de5e3"]
    assert "gaudi-open" in data["check_configurations"]
    shown = invoke("show", "gaudi")
    assert shown.exit_code == 0
    assert "broken by: 09854ba94c6a; fixed by: 80d47f5de5e3" in shown.output
    assert "- T1: {read: buf, until: migrate.unmapped}" in shown.output
    assert invoke("show", "gaudi-open").exit_code == 0
    missing = invoke("show", "no-such")
    assert missing.exit_code == 2 and "no-such" in missing.output


def test_shell_completion_completes_commands() -> None:
    import os
    import shlex
    import subprocess
    import sys

    # --show-completion is a flag: typer asks shellingham which shell runs the command
    # (its parent process), so run it from bash as a user would (the "exit" keeps bash
    # from exec-ing the command and leaving its own parent as the shell); under pytest's own
    # parent (sh, or none) it says "Shell sh not supported"
    shown = subprocess.run(
        ["bash", "-c", f"{shlex.quote(sys.executable)} -m cowlab --show-completion; exit $?"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "_cowlab_completion" in shown.stdout
    env = {**os.environ, "_COWLAB_COMPLETE": "complete_bash", "COMP_WORDS": "cowlab ch", "COMP_CWORD": "1"}
    words = subprocess.run(
        [sys.executable, "-m", "cowlab"], capture_output=True, text=True, env=env, check=False
    ).stdout.split()
    assert words == ["check"]


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["check"],
        ["bisect"],
        ["matrix"],
        ["export-c"],
        ["kernels"],
        ["catalog"],
        ["show"],
        ["oracle", "run"],
    ],
)
def test_every_command_help_has_an_example_and_the_exit_statuses(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example: cowlab " + command[0] in " ".join(result.output.split())
    assert "Exit status:" in result.output
    # a flag takes no value and an argument's name says what it is: no type tags
    for tag in ("<bool>", "<str>", "<int>", "<list"):
        assert tag not in result.output, tag
