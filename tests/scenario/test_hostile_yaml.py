"""Hostile input: values PyYAML cannot construct, recursive and exponential aliases, deep
nesting, oversized documents and bytes that are not UTF-8 are all one located error
(exit 2 at the command line), found in well under a second (issue 13)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cowlab.scenario import ScenarioError, load_check_config, load_scenario, load_scenario_file

GOOD = """\
name: sc
processes:
  - name: P
    threads:
      - {name: T1, node: 0}
steps:
  - T1: {mmap: buf}
"""


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(text, source="sc.yaml")
    return caught.value


@pytest.mark.parametrize(
    ("value", "line", "expected"),
    [
        ("2001-02-30", 1, "'2001-02-30' is not a valid timestamp"),
        ("!!int x", 1, "'x' is not a valid int"),
        ("!!bool maybe", 1, "'maybe' is not a valid bool"),
        ("2001-01-01 00:00:00 +99:99", 1, "is not a valid timestamp"),
        ("2001-01-01", 1, "'2001-01-01' is a date"),
        ("!!binary aGk=", 1, "is a bytes"),
    ],
)
def test_values_pyyaml_cannot_hold_are_located(value: str, line: int, expected: str) -> None:
    exc = error_of(GOOD.replace("name: sc", f"name: {value}", 1))
    assert (exc.file, exc.line, exc.field) == ("sc.yaml", line, "name")
    assert expected in exc.message


def test_a_recursive_alias_is_refused() -> None:
    exc = error_of(GOOD.replace("name: sc", "name: &a [*a]", 1))
    assert exc.field == "name[0]" and "contains it" in exc.message


def test_a_billion_laughs_is_refused_at_once() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    t0 = time.perf_counter()
    exc = error_of(GOOD + "\n".join(lines) + "\n")
    assert time.perf_counter() - t0 < 2
    assert "expands to more than 100,000 values" in exc.message


def test_deep_nesting_is_refused() -> None:
    for depth in (100, 450, 2000):
        exc = error_of(GOOD + "x: " + "[" * depth + "]" * depth + "\n")
        assert "levels deep" in exc.message, depth


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(GOOD.encode().replace(b"buf", b"b\xffuf"))
    for load in (load_scenario_file, load_check_config):
        with pytest.raises(ScenarioError) as caught:
            load(path)
        exc = caught.value
        assert (exc.line, exc.field) == (7, "<document>")
        assert "not UTF-8: byte 0xff at byte 17 of the line" in exc.message


def test_an_oversized_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "#" * (2 << 20) + "\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_file(path)
    assert "bytes; a scenario has at most 1,048,576" in caught.value.message


def test_a_good_document_still_loads() -> None:
    assert load_scenario(GOOD, source="sc.yaml").name == "sc"


def test_a_missing_key_names_its_field() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_check_config(GOOD.split("steps:")[0], source="c.yaml")
    assert str(caught.value) == "c.yaml:1: programs: missing required key 'programs'"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("processes:", "procesess:"),
            "sc.yaml:2: procesess: unknown key 'procesess' (did you mean 'processes'?",
        ),
        (
            GOOD.replace("{mmap: buf}", "{mmap: buf, pags: 2}"),
            "sc.yaml:7: steps[0].T1.pags: unknown key 'pags' (did you mean 'pages'?",
        ),
    ],
)
def test_a_misspelt_key_is_named_with_what_was_meant(text: str, expected: str) -> None:
    assert str(error_of(text)).startswith(expected)


def test_a_misspelt_background_budget_is_named_with_what_was_meant() -> None:
    config = GOOD.replace("steps:\n  - T1: {mmap: buf}\n", "programs:\n  T1:\n    - {mmap: buf}\n")
    with pytest.raises(ScenarioError) as caught:
        load_check_config(config + "background: {numa_scans: 2}\n", source="c.yaml")
    assert str(caught.value).startswith(
        "c.yaml:9: background.numa_scans: unknown key 'numa_scans' (did you mean 'numa_scan'?"
    )
