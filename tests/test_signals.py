"""A signal is never a traceback (issue 13): SIGINT or SIGTERM at any moment of a
command, start-up imports included, ends with one line and exit 130.  (The first few
hundredths of a second are the interpreter's own start-up and the import of the
``cowlab`` package, about 20 ms, before any guard can run: not tested.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

COMMAND = [sys.executable, "-m", "cowlab", "matrix", "*"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.1, 0.15, 0.3, 0.6])
def test_a_signal_at_any_moment_is_one_line(signum: int, delay: float) -> None:
    proc = subprocess.Popen(
        COMMAND,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COWLAB_DEBUG": ""},
    )
    time.sleep(delay)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    if proc.returncode == exit_interrupted():
        assert stderr.strip().splitlines()[-1] == "cowlab: interrupted"
    else:  # killed before Python's handlers were up, or finished first
        assert proc.returncode in (-signum, 0, 1), (proc.returncode, stderr)


def exit_interrupted() -> int:
    from cowlab.exit_codes import INTERRUPTED

    return INTERRUPTED


def test_ctrl_c_to_the_process_group_of_a_parallel_search_is_one_report() -> None:
    """A terminal's Ctrl-C reaches the workers too: they leave the answer to the parent,
    which stops them and reports what it had (exit 3), with no traceback anywhere."""
    from pathlib import Path

    config = Path(__file__).parent.parent / "benchmarks" / "configs" / "gaudi-large.yaml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cowlab", "check", str(config), "-k", "v5.8", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(4)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err + out, err
    assert proc.returncode == 3, (proc.returncode, err)
    assert "interrupted" in out


def test_an_interrupt_wrapped_by_a_class_body_is_still_an_interrupt() -> None:
    """CPython 3.11 wraps an exception raised in a descriptor's ``__set_name__`` (a
    dataclass field's) in a RuntimeError: a SIGTERM that landed there once printed a
    traceback from the import guard."""
    from cowlab._entry import raised_by_interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("Error calling __set_name__") from interrupt
    except RuntimeError as wrapped:
        assert raised_by_interrupt(wrapped)
    assert not raised_by_interrupt(RuntimeError("a crash"))
