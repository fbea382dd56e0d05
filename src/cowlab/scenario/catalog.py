"""Built-in scenarios (``cowlab/scenarios``) and check configurations (``cowlab/configs``),
shipped as YAML files; ``cowlab/scenarios/families`` holds selftests' cases times their
backings (cowlab.scenario.family), each member a built-in scenario of its own."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from cowlab.scenario.check_config import CheckConfig
from cowlab.scenario.errors import ScenarioError
from cowlab.scenario.family import FamilyError, expand_family
from cowlab.scenario.loader import load_check_config, load_scenario, load_scenario_file
from cowlab.scenario.spec import Scenario


@functools.cache
def _files(folder: str = "scenarios") -> dict[str, resources.abc.Traversable]:
    """The package's YAML files by name (listed once: `cowlab matrix` asks per scenario)."""
    root = resources.files("cowlab") / folder
    return {
        entry.name.removesuffix(".yaml"): entry for entry in root.iterdir() if entry.name.endswith(".yaml")
    }


@functools.cache
def _family_members() -> dict[str, tuple[str, str]]:
    """Scenario name -> (its YAML text, the family file it comes from)."""
    members: dict[str, tuple[str, str]] = {}
    for name, entry in sorted(_files("scenarios/families").items()):
        source = f"<builtin>/families/{name}.yaml"
        for member, text in expand_family(entry.read_text(encoding="utf-8"), source).items():
            if member in _files() or member in members:
                other = f"<builtin>/{member}.yaml" if member in _files() else members[member][1]
                raise FamilyError(f"{source}: member {member} is also {other}")
            members[member] = (text, f"{source} ({member})")
    return members


def builtin_names() -> list[str]:
    return sorted([*_files(), *_family_members()])


def load_builtin(name: str) -> Scenario:
    entry = _files().get(name)
    if entry is not None:
        return load_scenario(entry.read_text(encoding="utf-8"), source=f"<builtin>/{name}.yaml")
    member = _family_members().get(name)
    if member is None:
        raise ScenarioError(f"no built-in scenario named {name!r} (see `cowlab catalog`)", file=name)
    text, source = member
    return load_scenario(text, source=source)


def load_named(name_or_path: str) -> Scenario:
    """A scenario file path, or the name of a built-in scenario."""
    if Path(name_or_path).is_file():
        return load_scenario_file(name_or_path)
    if name_or_path in _files() or name_or_path in _family_members():
        return load_builtin(name_or_path)
    raise ScenarioError(
        f"no scenario file or built-in scenario named {name_or_path!r} (see `cowlab catalog`)",
        file=name_or_path,
    )


def builtin_config_names() -> list[str]:
    return sorted(_files("configs"))


def load_named_config(name_or_path: str) -> CheckConfig:
    """A check configuration file path, or the name of a built-in one."""
    if Path(name_or_path).is_file():
        return load_check_config(name_or_path)
    entry = _files("configs").get(name_or_path)
    if entry is None:
        raise ScenarioError(
            f"no check configuration file or built-in named {name_or_path!r} "
            f"(built-in: {', '.join(builtin_config_names())})",
            file=name_or_path,
        )
    return load_check_config(entry.read_text(encoding="utf-8"), source=f"<builtin>/{name_or_path}.yaml")
