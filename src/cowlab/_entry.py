"""The ``cowlab`` command's entry point: imports the command line inside a guard, so
that a Ctrl-C or SIGTERM during start-up (typer, rich, pydantic and the model take a
few tenths of a second to import) ends with one line and its exit status, never a
traceback."""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

#: exit status of an interrupted command (cowlab.exit_codes.INTERRUPTED: not imported,
#: so that this module loads nothing before its guard)
INTERRUPTED = 130


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> NoReturn:
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        from cowlab.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("cowlab: interrupted\n")
        sys.exit(INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)
    cli_main()
