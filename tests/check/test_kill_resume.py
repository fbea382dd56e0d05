"""A check killed with SIGKILL resumes from its last checkpoint to the same verdict and
the same distinct-state count as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).parent / "configs" / "medium.yaml"


def _cowlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "cowlab.cli", *args]


def test_sigkill_then_resume(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    whole = subprocess.run(
        _cowlab("check", str(CONFIG), "-k", "v5.8", "--json"),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    expected = json.loads(whole.stdout)
    assert expected["outcome"] == "complete"

    ck = tmp_path / "run.ckpt"
    proc = subprocess.Popen(
        _cowlab("check", str(CONFIG), "-k", "v5.8", "--checkpoint", str(ck), "--checkpoint-every", "0.5"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    first = None
    while time.monotonic() < deadline and proc.poll() is None:
        if ck.exists():
            mtime = ck.stat().st_mtime_ns
            if first is None:
                first = mtime
            elif mtime != first:  # at least two checkpoints written: well into the run
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    resumed = subprocess.run(
        _cowlab("check", str(CONFIG), "-k", "v5.8", "--resume", str(ck), "--json"),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    data = json.loads(resumed.stdout)
    assert data["outcome"] == expected["outcome"]
    assert data["stats"]["distinct"] == expected["stats"]["distinct"]


def test_sigterm_stops_with_a_report_and_a_checkpoint(tmp_path: Path) -> None:
    """SIGTERM is an interrupt, not a kill: the partial report, exit 3 (stopped before
    an answer) and a checkpoint the search resumes from."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    ck = tmp_path / "run.ckpt"
    proc = subprocess.Popen(
        _cowlab(
            "check", str(CONFIG), "-k", "v5.8", "--checkpoint", str(ck), "--checkpoint-every", "0.5", "--json"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not ck.exists():
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be stopped"
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3
    data = json.loads(out)
    assert (data["outcome"], data["reason"]) == ("limit", "interrupted")
    stopped_at = data["stats"]["distinct"]
    resumed = subprocess.run(
        _cowlab(
            "check",
            str(CONFIG),
            "-k",
            "v5.8",
            "--resume",
            str(ck),
            "--max-states",
            str(stopped_at + 10),
            "--json",
        ),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert json.loads(resumed.stdout)["stats"]["distinct"] >= stopped_at
