"""Load a YAML scenario into a Scenario, with every error located as
``FILE:LINE: FIELD: message`` (one line) so a user can jump straight to it.

PyYAML's node tree keeps line numbers that plain ``safe_load`` throws away; we
compose the tree, flatten it to plain data while indexing the line of every
dotted field path, then validate shapes with pydantic (schema.py) and meaning
with validate_scenario.  Any error's field path then finds its line.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn, get_args

import yaml
from pydantic import BaseModel, ValidationError

from cowlab.scenario.actions import ACTIONS, Action
from cowlab.scenario.check_config import Budgets, CheckConfig
from cowlab.scenario.errors import ScenarioError
from cowlab.scenario.schema import ARG_MODELS, ScenarioModel, yaml_keys
from cowlab.scenario.spec import FileSpec, MachineSpec, ProcessSpec, Scenario, Step, ThreadSpec
from cowlab.scenario.validate import validate_programs, validate_scenario

#: FIELD of errors about the document as a whole
DOCUMENT = "<document>"
_LAST_PART = re.compile(r"(\.[^.\[\]]*|\[\d+\])$")
_ACTION_LIST = ", ".join(ACTIONS)
#: keys a step may carry beside its action
STEP_OPTIONS = ("until", "nth", "choose")
_NAME_RULE = "letters, digits, _ and -, not starting with a digit or -"


def load_scenario(path_or_text: str | os.PathLike[str], *, source: str | None = None) -> Scenario:
    """Load a scenario from a path, or from YAML text (a str with a newline, or
    one naming no file); ``source`` names it in errors and Scenario.source."""
    if isinstance(path_or_text, os.PathLike) or _looks_like_path(path_or_text):
        return load_scenario_file(path_or_text, source=source)
    return _Reader(source).read(path_or_text)


def load_scenario_file(path: str | os.PathLike[str], *, source: str | None = None) -> Scenario:
    """Load the scenario in the YAML file at ``path``."""
    name = source or str(path)
    return _Reader(name).read(_read_text(path, name))


#: libyaml's parser where PyYAML was built with it (ten times faster: `cowlab matrix`
#: reads every scenario of the catalog), the pure-Python one otherwise; both give the
#: nodes and marks the loader reads
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: a scenario or configuration is a page of YAML; anything larger is not one
MAX_DOCUMENT_BYTES = 1 << 20
#: values a document may expand to through aliases (a "billion laughs" file expands to
#: billions from a few hundred bytes)
MAX_VALUES = 100_000
#: nesting depth of mappings and lists (PyYAML's composer recurses once per level)
MAX_DEPTH = 64


def _read_text(path: str | os.PathLike[str], name: str) -> str:
    """The file's text; bytes that are not UTF-8 are located by line and byte offset."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(
            f"cannot read the file: {exc.strerror or exc}", file=name, field=DOCUMENT
        ) from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ScenarioError(
            f"the file has {len(data):,} bytes; a scenario has at most {MAX_DOCUMENT_BYTES:,}",
            file=name,
            field=DOCUMENT,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            f"not UTF-8: byte {data[exc.start]:#04x} at byte {column} of the line",
            file=name,
            line=line,
            field=DOCUMENT,
        ) from None


def _looks_like_path(text: str) -> bool:
    if "\n" in text:
        return False
    return text.endswith((".yaml", ".yml")) or Path(text).is_file()


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _kind(value: object) -> str:
    """How a value reads in an error message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


class _Reader:
    """One load: the source name and the line of every field path seen.
    ``check`` reads a model-check configuration (programs) instead of a scenario."""

    def __init__(self, source: str | None, *, check: bool = False) -> None:
        self.source = source
        self.check = check
        self.lines: dict[str, int] = {}
        self.constructor = yaml.constructor.SafeConstructor()
        #: values produced so far (bounded: aliases can expand a small file enormously)
        self.values = 0

    # --- errors -------------------------------------------------------------

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its nearest ancestor seen in the file."""
        while path not in self.lines:
            parent = _LAST_PART.sub("", path)
            if parent == path:
                return self.lines.get("")
            path = parent
        return self.lines[path]

    def fail(self, field: str, message: str, line: int | None = None) -> NoReturn:
        line = self.line_of(field) if line is None else line
        raise ScenarioError(message, file=self.source, line=line, field=field)

    def fail_pydantic(
        self, exc: ValidationError, base: str, model: type[BaseModel], extra: tuple[str, ...] = ()
    ) -> NoReturn:
        """Report the pydantic error that comes first in the file (missing keys,
        located only at their parent, last)."""
        errors = exc.errors()
        paths = [_loc_path(base, err["loc"]) for err in errors]
        i = min(
            range(len(errors)),
            key=lambda k: (errors[k]["type"] == "missing", self.line_of(paths[k]) or 0),
        )
        err, path = errors[i], paths[i]
        loc = err["loc"]
        if err["type"] == "missing":
            message = f"missing required key {loc[-1]!r}"
        elif err["type"] == "extra_forbidden":
            keys = [*yaml_keys(_model_at(model, loc[:-1])), *extra]
            close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            message = f"unknown key {loc[-1]!r} ({hint}allowed: {', '.join(keys)})"
        elif err["type"] == "value_error":
            message = str(err["ctx"]["error"])
        elif err["type"] == "string_pattern_mismatch":
            message = f"{err['input']!r} is not a name: {_NAME_RULE}"
        elif isinstance(err["input"], dict | list):
            message = err["msg"]
        else:
            message = f"{err['msg']}, got {_kind(err['input'])}"
        self.fail(path, message)

    # --- YAML -> plain data + line index -------------------------------------

    def read(self, text: str) -> Scenario:
        return self.build(self.parse(text))

    def parse(self, text: str) -> dict[Any, Any]:
        if len(text) > MAX_DOCUMENT_BYTES:
            self.fail(
                DOCUMENT,
                f"the document has {len(text):,} characters; a scenario has at most {MAX_DOCUMENT_BYTES:,}",
                1,
            )
        try:
            root = yaml.compose(text, Loader=_LOADER)
        except RecursionError:
            self.fail(DOCUMENT, f"nested more than {MAX_DEPTH} levels deep", 1)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = exc.problem or "bad YAML"
            if "maximum nesting depth" in problem:  # libyaml's own limit (1,000 levels)
                self.fail(DOCUMENT, f"nested more than {MAX_DEPTH} levels deep", line)
            if exc.context:
                problem += f" ({exc.context})"
            self.fail(DOCUMENT, "malformed YAML: " + " ".join(problem.split()), line)
        except yaml.YAMLError as exc:
            self.fail(DOCUMENT, f"malformed YAML: {' '.join(str(exc).split())}", 1)
        if root is None:
            self.fail(DOCUMENT, "empty document: the top level must be a mapping", 1)
        self.lines[""] = root.start_mark.line + 1
        data = self.plain(root, "", ())
        if not isinstance(data, dict):
            self.fail(DOCUMENT, f"the top level must be a mapping, got {_kind(data)}")
        return data

    def plain(self, node: yaml.Node, path: str, above: tuple[yaml.Node, ...]) -> Any:
        """The node as plain data, recording each path's line on the way.  ``above`` are
        the collections that contain it: an alias to one of them would never end."""
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        self.values += 1
        if self.values > MAX_VALUES:
            self.fail(
                path or DOCUMENT,
                f"the document expands to more than {MAX_VALUES:,} values (aliases repeat what they name)",
                line,
            )
        if any(node is outer for outer in above):
            self.fail(path or DOCUMENT, "an alias names a collection that contains it", line)
        if len(above) >= MAX_DEPTH:
            self.fail(path or DOCUMENT, f"nested more than {MAX_DEPTH} levels deep", line)
        inside = (*above, node)
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, f"{path}[{i}]", inside) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    self.fail(path or DOCUMENT, "a mapping key must be a plain name", key_line)
                key = self.scalar(key_node, path or DOCUMENT)
                sub = _join(path, key)
                if key in out:
                    self.fail(sub, f"duplicate key {key!r}", key_line)
                if not isinstance(value_node, yaml.ScalarNode):
                    self.lines[sub] = key_line  # a block value starts below its key
                out[key] = self.plain(value_node, sub, inside)
            return out
        return self.scalar(node, path or DOCUMENT)

    def scalar(self, node: yaml.Node, path: str) -> Any:
        """A scalar's value.  PyYAML raises ValueError, KeyError or OverflowError for
        values its tags cannot hold (``2001-02-30``, ``!!int x``, ``!!bool maybe``)."""
        line = node.start_mark.line + 1
        try:
            value = self.constructor.construct_object(node)
        except yaml.MarkedYAMLError as exc:
            self.fail(path, f"malformed YAML: {exc.problem}", line)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            tag = node.tag.rpartition(":")[2]
            self.fail(path, f"{node.value!r} is not a valid {tag} ({type(exc).__name__}: {exc})", line)
        if isinstance(value, (datetime.date, bytes, set)):  # YAML's timestamps, !!binary, !!set
            self.fail(
                path,
                f"{node.value!r} is a {type(value).__name__}: scenarios hold names, "
                "numbers, booleans, lists and mappings",
                line,
            )
        return value

    # --- plain data -> Scenario ----------------------------------------------

    def build(self, data: dict[Any, Any]) -> Scenario:
        try:
            top = ScenarioModel.model_validate(data)
        except ValidationError as exc:
            self.fail_pydantic(exc, "", ScenarioModel)
        if self.check:
            if top.steps:
                self.fail("steps", "a check configuration has programs, not steps")
            if top.programs is None:
                self.fail("programs", "missing required key 'programs'")
        else:
            if "steps" not in data:
                self.fail("steps", "missing required key 'steps'")
            for key in ("programs", "background"):
                if key in data:
                    self.fail(key, f"{key!r} belongs to check configurations (cowlab check)")
        scenario = Scenario(
            name=top.name,
            description=top.description.strip(),
            references=tuple(top.references),
            machine=MachineSpec(nodes=top.machine.nodes, numa_balancing=top.machine.numa_balancing),
            processes=tuple(
                ProcessSpec(p.name, tuple(ThreadSpec(t.name, t.node, t.affinity) for t in p.threads))
                for p in top.processes
            ),
            steps=tuple(self.step(f"steps[{i}]", raw) for i, raw in enumerate(top.steps)),
            source=self.source,
            files=tuple(FileSpec(f.name, f.pages, f.fs) for f in top.files),
            introduced_by=tuple(top.introduced_by),
            fixed_by=tuple(top.fixed_by),
            bounds=tuple(
                sorted(
                    (k, v)
                    for k, v in (top.bounds.model_dump() if top.bounds else {}).items()
                    if v is not None
                )
            ),
            expect=tuple((top.expect or {}).items()),
        )
        try:
            validate_scenario(scenario)
        except ScenarioError as exc:
            self.fail(exc.field or DOCUMENT, exc.message)
        return scenario

    def config(self, scenario: Scenario, data: dict[Any, Any]) -> CheckConfig:
        top = ScenarioModel.model_validate(data)
        assert top.programs is not None
        programs = []
        for thread, items in top.programs.items():
            base = f"programs.{thread}"
            steps = tuple(
                self.body(f"{base}[{i}]", thread, item, self.line_of(f"{base}[{i}]") or 0)
                for i, item in enumerate(items)
            )
            for i, step in enumerate(steps):
                if step.until is not None or step.choose is not None:
                    self.fail(
                        f"{base}[{i}]", "programs have no global order: until/choose belong to scenario steps"
                    )
            programs.append((thread, steps))
        try:
            validate_programs(scenario, tuple(programs))
        except ScenarioError as exc:
            self.fail(exc.field or DOCUMENT, exc.message)
        bg = top.background
        budgets = Budgets(**bg.model_dump()) if bg is not None else Budgets()
        return CheckConfig(scenario, tuple(programs), budgets)

    def step(self, path: str, raw: Any) -> Step:
        """``ACTOR: keyword`` or ``ACTOR: {keyword: value, option: ..., until: STAGE}``."""
        if not isinstance(raw, dict) or len(raw) != 1:
            self.fail(path, f"a step is a one-key mapping ACTOR: ACTION, got {_kind(raw)}")
        ((actor, body),) = raw.items()
        if not isinstance(actor, str):
            self.fail(path, f"the actor must be a name, got {_kind(actor)}")
        return self.body(f"{path}.{actor}", actor, body, self.lines[path])

    def body(self, base: str, actor: str, body: Any, line: int) -> Step:
        """An action keyword, or a mapping of one keyword, its options and the step
        options (``until``, ``nth``, ``choose``)."""
        options: dict[str, Any] = {}
        if isinstance(body, str):
            keyword, args = body, {}
            if keyword not in ACTIONS:
                self.fail(base, f"unknown action {keyword!r} (valid: {_ACTION_LIST})")
        elif isinstance(body, dict):
            keywords = [k for k in body if k in ACTIONS]
            if len(keywords) > 1:
                self.fail(
                    f"{base}.{keywords[1]}",
                    f"two actions {keywords[0]!r} and {keywords[1]!r} in one step (give each its own step)",
                )
            if not keywords:
                others = [k for k in body if k not in STEP_OPTIONS]
                if others:
                    self.fail(
                        f"{base}.{others[0]}",
                        f"{others[0]!r} is not an action (valid: {_ACTION_LIST})",
                    )
                self.fail(base, f"no action given (valid: {_ACTION_LIST})")
            keyword, args = keywords[0], dict(body)
            options = {k: args.pop(k) for k in STEP_OPTIONS if k in args}
        else:
            self.fail(base, f"an action is a keyword or a mapping, got {_kind(body)}")
        until = options.get("until")
        if until is not None and not isinstance(until, str):
            self.fail(f"{base}.until", f"until must be a stage name, got {_kind(until)}")
        nth = options.get("nth", 1)
        if type(nth) is not int or nth < 1:
            self.fail(f"{base}.nth", f"nth must be a positive integer, got {_kind(nth)}")
        if nth != 1 and until is None:
            self.fail(f"{base}.nth", "nth counts arrivals at the until stage: give until too")
        choose = options.get("choose")
        if choose is not None and not isinstance(choose, str):
            self.fail(f"{base}.choose", f"choose must be a choice name, got {_kind(choose)}")
        return Step(actor, self.action(base, keyword, args), until, line, nth, choose)

    def action(self, base: str, keyword: str, args: dict[Any, Any]) -> Action:
        model = ARG_MODELS[keyword]
        if model.model_fields and keyword not in args:
            first = next(iter(model.model_fields.values()))
            if first.is_required():
                self.fail(f"{base}.{keyword}", f"{keyword} needs a value: {{{keyword}: ...}}")
        try:
            parsed = model.model_validate(args)
        except ValidationError as exc:
            self.fail_pydantic(exc, base, model, extra=STEP_OPTIONS)
        cls = ACTIONS[keyword]
        values = {f.name: getattr(parsed, f.name) for f in fields(cls)}
        action: Action = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
        return action


def _loc_path(base: str, loc: tuple[int | str, ...]) -> str:
    path = base
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
    return path


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The nested model at ``loc`` (to list the keys it allows)."""
    current: Any = model
    for part in loc:
        current = _without_none(current)
        if isinstance(part, int):
            current = get_args(current)[0]
        else:
            by_key = {f.alias or name: f for name, f in current.model_fields.items()}
            current = by_key[part].annotation
    found: type[BaseModel] = _without_none(current)
    return found


def _without_none(annotation: Any) -> Any:
    """``X | None`` -> ``X`` (optional sections such as ``background:`` and ``bounds:``)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if type(None) in get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def load_check_config(path_or_text: str | os.PathLike[str], *, source: str | None = None) -> CheckConfig:
    """Load a model-check configuration: a scenario's machine and processes, each
    thread's program, and the background budgets."""
    name: str | None
    if isinstance(path_or_text, os.PathLike) or _looks_like_path(path_or_text):
        name = source or str(path_or_text)
        text = _read_text(path_or_text, name)
    else:
        name, text = source, str(path_or_text)
    reader = _Reader(name, check=True)
    data = reader.parse(text)
    scenario = reader.build(data)
    return reader.config(scenario, data)
