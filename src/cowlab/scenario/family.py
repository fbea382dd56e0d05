"""Scenario families: a selftest's cases times its backings, written once.

A kernel selftest runs each test case on each backing (cow.c's THP preparations,
gup_longterm.c's memfd, tmpfile and local tmpfile).  A family file states the cases
(steps and the selftest's description) and the backings (the files they map, steps
that prepare them), and each member of the product is a scenario named
``FAMILY-CASE-BACKING`` whose first reference is the selftest's own result name
(``gup_longterm: R/W longterm GUP pin in MAP_SHARED file mapping with memfd``), so that
a selftest's output line and a catalog entry match by name.  What each member
declares (``introduced_by``/``fixed_by``) is stated per case (for every backing) or
per member under ``declared``: declarations are reviewed against the kernel's history,
never derived from the model.  A backing may set ``vars``; a step value written
``$name`` in a case is that backing's value (gup_longterm's expectation of a shared
R/W pin depends on the filesystem).  A family with one backing may leave its name and words
empty: its members are then ``FAMILY-CASE``, named by the case's words alone (cow.c's
anonymous THP cases).
"""

from __future__ import annotations

from typing import Any

import yaml


class FamilyError(ValueError):
    """A built-in family file that does not say what a family needs."""


def expand_family(text: str, source: str) -> dict[str, str]:
    """The members of the family in ``text``: scenario name -> scenario YAML text."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise FamilyError(f"{source}: a family is a mapping")
    missing = {"family", "selftest", "description", "cases", "backings", "machine", "processes"} - set(data)
    if missing:
        raise FamilyError(f"{source}: missing {', '.join(sorted(missing))}")
    declared: dict[str, dict[str, Any]] = data.get("declared") or {}
    members: dict[str, str] = {}
    for case in data["cases"]:
        for backing in data["backings"]:
            name = "-".join(part for part in (data["family"], case["name"], backing["name"]) if part)
            title = (
                f"{case['selftest']} with {backing['selftest']}" if backing["selftest"] else case["selftest"]
            )
            claims = {k: case[k] for k in ("introduced_by", "fixed_by") if k in case} | declared.get(name, {})
            scenario = {
                "name": name,
                "description": f"{title}: "
                + " ".join(
                    " ".join(str(part.get("description", "")).split())
                    for part in (case, backing, data)
                    if part.get("description")
                ),
                "references": [f"{data['selftest']}: {title}", *data.get("references", [])],
                "introduced_by": list(claims.get("introduced_by", [])),
                "fixed_by": list(claims.get("fixed_by", [])),
                "machine": data["machine"],
                "files": backing.get("files", []),
                "processes": data["processes"],
                "steps": [*backing.get("steps", []), *_substitute(case["steps"], backing.get("vars", {}))],
            }
            members[name] = yaml.safe_dump(scenario, sort_keys=False, width=100)
    unknown = set(declared) - set(members)
    if unknown:
        raise FamilyError(f"{source}: declared for no member: {', '.join(sorted(unknown))}")
    return members


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
