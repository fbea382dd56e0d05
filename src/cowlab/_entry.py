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
    except BaseException as exc:
        if not raised_by_interrupt(exc):
            raise
        sys.stderr.write("cowlab: interrupted\n")
        leave(INTERRUPTED)
    try:
        cli_main()
    except SystemExit as exc:
        if exc.code == INTERRUPTED:
            leave(INTERRUPTED)
        raise


def raised_by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is an interrupt or was raised because of one.

    An interrupt that lands while a class body is being built is not always a
    KeyboardInterrupt by the time it leaves the import: CPython 3.11 wraps an
    exception from a descriptor's ``__set_name__`` (a dataclass field's, for one) in a
    RuntimeError whose cause is the interrupt (Objects/typeobject.c, type_new_set_names)."""
    visited: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in visited:
        if isinstance(link, KeyboardInterrupt):
            return True
        visited.add(id(link))
        link = link.__cause__ or link.__context__
    return False


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
