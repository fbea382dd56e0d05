"""Scenario families: a selftest's cases times its backings, each member a built-in
scenario named FAMILY-CASE-BACKING whose first reference is the selftest's own name."""

from __future__ import annotations

import textwrap

import pytest

from cowlab.scenario import load_scenario
from cowlab.scenario.catalog import builtin_names, load_builtin
from cowlab.scenario.family import FamilyError, expand_family

FAMILY = textwrap.dedent(
    """
    family: fam
    selftest: self.c
    description: the family
    machine: {nodes: 1, numa_balancing: false}
    processes: [{name: P, threads: [{name: T1, node: 0}]}]
    cases:
      - {name: a, selftest: Case A, steps: [{T1: {write: mem}}]}
      - {name: b, selftest: Case B, description: second, steps: [{T1: {read: mem}}]}
    backings:
      - {name: x, selftest: backing X, steps: [{T1: {mmap: mem}}]}
      - name: y
        selftest: backing Y
        files: [{name: f, pages: 1, fs: tmpfs}]
        steps: [{T1: {mmap: mem, file: f, shared: true}}]
    declared:
      fam-b-y: {fixed_by: ["84209e87c696"]}
    """
)


def test_each_case_on_each_backing_is_a_scenario_named_by_the_selftest() -> None:
    members = expand_family(FAMILY, "fam.yaml")
    assert list(members) == ["fam-a-x", "fam-a-y", "fam-b-x", "fam-b-y"]
    scenario = load_scenario(members["fam-b-y"], source="fam.yaml (fam-b-y)")
    assert scenario.references[0] == "self.c: Case B with backing Y"
    assert scenario.description == "Case B with backing Y: second the family"
    assert scenario.fixed_by == ("84209e87c696",)
    assert [f.fs for f in scenario.files] == ["tmpfs"]
    assert [type(s.action).__name__ for s in scenario.steps] == ["Mmap", "Read"]  # backing first


def test_a_declaration_for_no_member_is_an_error() -> None:
    with pytest.raises(FamilyError, match="declared for no member: fam-c-x"):
        expand_family(FAMILY + "  fam-c-x: {fixed_by: []}\n", "fam.yaml")


def test_a_family_without_its_cases_is_an_error() -> None:
    with pytest.raises(FamilyError, match=r"fam\.yaml: missing cases"):
        expand_family(FAMILY.replace("cases:", "kases:"), "fam.yaml")


def test_built_in_family_members_are_in_the_catalog_and_load() -> None:
    names = [n for n in builtin_names() if n.startswith("gup-longterm-")]
    assert len(names) == 10 * 3
    scenario = load_builtin("gup-longterm-ro-fast-pin-shared-local-tmpfile")
    assert scenario.references[0] == (
        "gup_longterm: R/O longterm GUP-fast pin in MAP_SHARED file mapping with local tmpfile"
    )
    assert (
        scenario.source
        == "<builtin>/families/gup-longterm.yaml (gup-longterm-ro-fast-pin-shared-local-tmpfile)"
    )
