"""Scenario families: a selftest's cases times its backings, written once.

A kernel selftest runs each test case on each backing (cow.c's base page, swapped-out
base page, hugetlb and THP preparations; gup_longterm.c's memfd, tmpfile and local
tmpfile).  A family file states the cases (steps and the selftest's description) and
the backings (the files they map, steps that prepare them), and each member of the
product is a scenario named ``FAMILY-CASE-BACKING`` whose steps are the backing's, then
the case's, and whose first reference is the selftest's own result name
(``gup_longterm: R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd``,
which is how both cow.c and gup_longterm.c print a case's name), so that
a selftest's output line and a catalog entry match by name.  A family with one backing
may leave its name and words empty: its members are then ``FAMILY-CASE``, named by the
case's words alone (cow.c's anonymous THP cases).

The keys, at the top: ``family``, ``selftest`` (the program's name, which starts every
first reference), ``description``, ``machine``, ``processes``, ``cases``, ``backings``
and optionally ``references`` and ``declared``.  A case has ``name``, ``selftest`` (its
words), ``steps`` and optionally ``description``, ``references``, ``introduced_by`` and
``fixed_by``; a backing has ``name``, ``selftest``, and optionally ``description``,
``references``, ``files`` and ``steps``.  A member's

* description is ``"<case words> ... with <backing words>: "``, then the case's, the
  backing's, the member's own (``declared``) and the family's description;
* references are that result name, then the case's (or the member's own list, which
  replaces them), the backing's and the family's;
* ``introduced_by``/``fixed_by`` are the case's (stated for every backing), each
  replaced by the member's own under ``declared``: declarations are reviewed against
  the kernel's history, never derived from the model.

``declared`` maps a member's full name to any of ``introduced_by``, ``fixed_by``,
``description`` and ``references``: what is particular to that member (a backing on
which the verdicts turn on other commits, and why).  A description may be a list of
texts, joined by spaces, so that a YAML anchor can share one sentence between backings.
A backing may set ``vars``: a step value written ``$name`` in a case is that backing's
value (gup_longterm expects a shared R/W pin to be refused on a disk filesystem only).

A backing may set ``sizes``: the selftest runs it at each of these sizes (cow.c's
PTE-level THP preparations at every multi-size THP size below the PMD's), which the
model does not tell apart (one sub-PMD folio order; the rules depend on "a large folio
mapped by PTEs", not on its order).  Its ``selftest`` words then hold ``{size}``, the
member is one scenario whose references start with the result name at every size, and
each of those lines matches it.
"""

from __future__ import annotations

from typing import Any

import yaml

#: what ``declared`` may say about one member
DECLARED_KEYS = ("introduced_by", "fixed_by", "description", "references")


class FamilyError(ValueError):
    """A built-in family file that does not say what a family needs."""


def _text(part: dict[str, Any]) -> str:
    """A part's description, whitespace folded: text, or a list of texts."""
    text = part.get("description") or ""
    pieces = text if isinstance(text, list) else [text]
    return " ".join(" ".join(str(piece).split()) for piece in pieces if piece)


def expand_family(text: str, source: str) -> dict[str, str]:
    """The members of the family in ``text``: scenario name -> scenario YAML text."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise FamilyError(f"{source}: a family is a mapping")
    missing = {"family", "selftest", "description", "cases", "backings", "machine", "processes"} - set(data)
    if missing:
        raise FamilyError(f"{source}: missing {', '.join(sorted(missing))}")
    declared: dict[str, dict[str, Any]] = data.get("declared") or {}
    for name, own in declared.items():
        unknown_keys = set(own) - set(DECLARED_KEYS)
        if unknown_keys:
            raise FamilyError(
                f"{source}: declared.{name}: {', '.join(sorted(unknown_keys))} "
                f"(a member may declare {', '.join(DECLARED_KEYS)})"
            )
    members: dict[str, str] = {}
    for case in data["cases"]:
        for backing in data["backings"]:
            name = "-".join(part for part in (data["family"], case["name"], backing["name"]) if part)
            own = declared.get(name, {})
            titles = _titles(case, backing)
            title = _title(case, backing, ", ".join(map(str, backing.get("sizes", ()))))
            claims = {k: case[k] for k in ("introduced_by", "fixed_by") if k in case}
            claims |= {k: own[k] for k in ("introduced_by", "fixed_by") if k in own}
            scenario = {
                "name": name,
                "description": f"{title}: "
                + " ".join(t for t in map(_text, (case, backing, own, data)) if t),
                "references": [
                    *(f"{data['selftest']}: {t}" for t in titles),
                    *own.get("references", case.get("references", [])),
                    *backing.get("references", []),
                    *data.get("references", []),
                ],
                "introduced_by": list(claims.get("introduced_by", [])),
                "fixed_by": list(claims.get("fixed_by", [])),
                "machine": data["machine"],
                "files": backing.get("files", []),
                "processes": data["processes"],
                "steps": [*backing.get("steps", []), *_substitute(case["steps"], backing.get("vars", {}))],
            }
            if name in members:
                raise FamilyError(f"{source}: two members named {name}")
            members[name] = yaml.safe_dump(scenario, sort_keys=False, width=100)
    unknown = set(declared) - set(members)
    if unknown:
        raise FamilyError(f"{source}: declared for no member: {', '.join(sorted(unknown))}")
    return members


def _title(case: dict[str, Any], backing: dict[str, Any], size: str) -> str:
    """The selftest's name of ``case`` on ``backing`` (at ``size``, for a sized backing)."""
    words = str(backing["selftest"]).replace("{size}", size)
    return f"{case['selftest']} ... with {words}" if words else str(case["selftest"])


def _titles(case: dict[str, Any], backing: dict[str, Any]) -> list[str]:
    """Every result name the member claims: one, or one per size of a sized backing."""
    sizes = backing.get("sizes")
    if sizes is None:
        if "{size}" in str(backing["selftest"]):
            raise FamilyError(f"backing {backing['name']}: {{size}} in its words but no sizes")
        return [_title(case, backing, "")]
    if not sizes or "{size}" not in str(backing["selftest"]):
        raise FamilyError(f"backing {backing['name']}: sizes need {{size}} in its words, and a size")
    return [_title(case, backing, str(size)) for size in sizes]


def _substitute(value: Any, variables: dict[str, Any]) -> Any:
    """``value`` with every string ``$name`` replaced by the backing's variable."""
    if isinstance(value, str) and value.startswith("$"):
        if value[1:] not in variables:
            raise FamilyError(f"no backing variable {value[1:]!r}")
        return variables[value[1:]]
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    return value
