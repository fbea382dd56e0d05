"""The catalog as a user reads it: `cowlab catalog` (a table that folds rather than cuts),
`cowlab catalog --json`, and `cowlab show NAME` (one scenario or check configuration
whole)."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from cowlab.invariants import PROMISES
from cowlab.scenario import Scenario
from cowlab.scenario.dump import dump_scenario

#: the end of a sentence: a full stop after a word, then a capital.  Not the dots of
#: "fork() ... with base page", which cut cow.c's case names before.
_SENTENCE_END = re.compile(r"(?<=[\w)\]'\"])\.\s+(?=[A-Z])")


def summary(description: str) -> str:
    """The description's first sentence, whitespace folded."""
    text = " ".join(description.split())
    return _SENTENCE_END.split(text, maxsplit=1)[0].removesuffix(".")


def print_catalog(scenarios: list[Scenario], configs: list[str], console: Console) -> None:
    """Each scenario's full name and declared commits on one line, its first sentence
    below, indented and wrapped to the terminal: nothing is cut at any width."""
    for sc in scenarios:
        declared = []
        if sc.introduced_by:
            declared.append("broken by " + " ".join(sc.introduced_by))
        if sc.fixed_by:
            declared.append("fixed by " + " ".join(sc.fixed_by))
        head = Text(sc.name, style="bold")
        if declared:
            head.append("  " + "; ".join(declared), style="dim")
        console.print(head, soft_wrap=False, overflow="fold")
        console.print(Padding(Text(summary(sc.description)), (0, 0, 0, 4)), soft_wrap=False)
    console.print(
        f"{len(scenarios)} scenarios; check configurations (cowlab check): " + ", ".join(configs),
        soft_wrap=False,
    )
    console.print("cowlab show NAME prints one of them whole.", soft_wrap=False)


def catalog_json(scenarios: list[Scenario], configs: list[str]) -> dict[str, object]:
    return {
        "scenarios": [
            {
                "name": sc.name,
                "summary": summary(sc.description),
                "description": " ".join(sc.description.split()),
                "references": list(sc.references),
                "introduced_by": list(sc.introduced_by),
                "fixed_by": list(sc.fixed_by),
                "steps": len(sc.steps),
            }
            for sc in scenarios
        ],
        "check_configurations": configs,
    }


def print_show(scenario: Scenario, console: Console, *, kind: str = "scenario") -> None:
    """One scenario (or a check configuration's scenario part) whole: what it is, where
    it comes from, the commits it declares, its steps, and the promises checked."""
    console.print(f"[bold]{escape(scenario.name)}[/] ({kind})")
    console.print(escape(" ".join(scenario.description.split())) or "(no description)", soft_wrap=False)
    if scenario.references:
        console.print("references:")
        for ref in scenario.references:
            console.print(f"  - {escape(ref)}")
    if scenario.introduced_by or scenario.fixed_by:
        console.print(
            f"broken by: {' '.join(scenario.introduced_by) or '-'}; "
            f"fixed by: {' '.join(scenario.fixed_by) or '-'}"
        )
    console.print("promises checked after every step: " + ", ".join(PROMISES))
    console.print("as YAML:")
    console.print(escape(dump_scenario(scenario)), soft_wrap=True)
