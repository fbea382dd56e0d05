"""The ``cowlab`` command's entry point: SIGTERM becomes an interrupt for the whole
command, and the command line is imported inside a guard, so that a Ctrl-C or SIGTERM
at any moment, start-up included (typer, rich, pydantic and the model take a few
tenths of a second to import), ends with one line and exit status 130, never a
traceback."""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

#: exit status of an interrupted command (cowlab.exit_codes.INTERRUPTED: not imported,
#: so that this module loads nothing before its guard)
INTERRUPTED = 130


def _interrupted(_signum: int, _frame: object) -> None:
    """SIGTERM is an interrupt, as Ctrl-C is; a second one stops at once."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt


def main() -> NoReturn:
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        from cowlab.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("cowlab: interrupted\n")
        leave(INTERRUPTED)
    try:
        cli_main()
    except SystemExit as exc:
        if exc.code == INTERRUPTED:
            leave(INTERRUPTED)
        raise


def leave(status: int) -> NoReturn:
    """Exit with ``status`` now, after flushing stdout and stderr.

    For an interrupt, not ``sys.exit``: under ``python -m``, CPython 3.11 ends the
    process with SIGINT, whatever the exit status, once a KeyboardInterrupt has ended
    code run from a string (``dataclasses`` and ``namedtuple`` build classes that way,
    so an interrupt during imports hits it), even when the interrupt was caught
    (Modules/main.c, pymain_run_module and Py_RunMain: unhandled_keyboard_interrupt)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
