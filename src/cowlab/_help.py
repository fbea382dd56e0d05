"""``--help`` as a command-line user reads it.

typer 0.29 prints a type tag in the type column of every parameter: ``<bool>`` for a
flag, which takes no value, and ``<str>`` beside an argument whose name (CONFIG,
SCENARIO) already says what it is.  click prints neither; choices and metavars stay.
"""

from __future__ import annotations

import click
from typer.core import TyperArgument, TyperOption

_option_type = TyperOption.display_type_rich


def _flag_or_option_type(self: TyperOption, ctx: click.Context) -> str | None:
    return None if self.is_flag else _option_type(self, ctx)


def _argument_type(self: TyperArgument, ctx: click.Context) -> str | None:
    return None  # the name column shows the argument's metavar already


def hide_type_tags() -> None:
    """Show no type for flags and arguments in the rich help panels."""
    TyperOption.display_type_rich = _flag_or_option_type  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]
