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
    assert scenario.references[0] == "self.c: Case B ... with backing Y"
    assert scenario.description == "Case B ... with backing Y: second the family"
    assert scenario.fixed_by == ("84209e87c696",)
    assert [f.fs for f in scenario.files] == ["tmpfs"]
    assert [type(s.action).__name__ for s in scenario.steps] == ["Mmap", "Read"]  # backing first


def test_a_sized_backing_is_one_member_claiming_the_line_at_every_size() -> None:
    sized = FAMILY.replace("selftest: backing Y\n", "selftest: backing Y ({size} kB)\n    sizes: [16, 32]\n")
    scenario = load_scenario(expand_family(sized, "fam.yaml")["fam-b-y"], source="fam.yaml (fam-b-y)")
    assert scenario.references == (
        "self.c: Case B ... with backing Y (16 kB)",
        "self.c: Case B ... with backing Y (32 kB)",
    )
    assert scenario.description.startswith("Case B ... with backing Y (16, 32 kB): ")


@pytest.mark.parametrize(
    ("words", "sizes", "error"),
    [
        ("backing Y ({size} kB)", "", "{size} in its words but no sizes"),
        ("backing Y", "    sizes: [16]\n", "sizes need {size} in its words"),
        ("backing Y ({size} kB)", "    sizes: []\n", "sizes need {size} in its words, and a size"),
    ],
)
def test_sizes_and_their_placeholder_come_together(words: str, sizes: str, error: str) -> None:
    with pytest.raises(FamilyError, match=error.replace("{", r"\{").replace("}", r"\}")):
        expand_family(FAMILY.replace("selftest: backing Y\n", f"selftest: {words}\n{sizes}"), "fam.yaml")


def test_a_declaration_for_no_member_is_an_error() -> None:
    with pytest.raises(FamilyError, match="declared for no member: fam-c-x"):
        expand_family(FAMILY + "  fam-c-x: {fixed_by: []}\n", "fam.yaml")


def test_a_family_without_its_cases_is_an_error() -> None:
    with pytest.raises(FamilyError, match=r"fam\.yaml: missing cases"):
        expand_family(FAMILY.replace("cases:", "kases:"), "fam.yaml")


def test_built_in_family_members_are_in_the_catalog_and_load() -> None:
    names = [n for n in builtin_names() if n.startswith("gup-longterm-")]
    assert len(names) == 10 * 4  # memfd, tmpfile, local tmpfile, memfd hugetlb
    hugetlb = load_builtin("gup-longterm-rw-pin-shared-memfd-hugetlb")
    assert hugetlb.references[:2] == (
        "gup_longterm: R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd hugetlb (2048 kB)",
        "gup_longterm: R/W longterm GUP pin in MAP_SHARED file mapping ... with memfd hugetlb (1048576 kB)",
    )
    assert [f.fs for f in hugetlb.files] == ["hugetlbfs"]
    scenario = load_builtin("gup-longterm-ro-fast-pin-shared-local-tmpfile")
    assert scenario.references[0] == (
        "gup_longterm: R/O longterm GUP-fast pin in MAP_SHARED file mapping ... with local tmpfile"
    )
    assert (
        scenario.source
        == "<builtin>/families/gup-longterm.yaml (gup-longterm-ro-fast-pin-shared-local-tmpfile)"
    )


def test_cases_backings_and_members_add_references_and_explanations() -> None:
    family = (
        FAMILY.replace(
            "{name: a, selftest: Case A, steps: [{T1: {write: mem}}]}",
            "{name: a, selftest: Case A, references: [case ref], fixed_by: [a7f226604170], "
            "steps: [{T1: {write: mem}}]}",
        )
        .replace(
            "{name: x, selftest: backing X, steps: [{T1: {mmap: mem}}]}",
            "{name: x, selftest: backing X, description: [on X., &shared shared words.], "
            "references: [backing ref], steps: [{T1: {mmap: mem}}]}",
        )
        .replace("selftest: backing Y\n", "selftest: backing Y\n    description: [on Y., *shared]\n")
    )
    family += "  fam-a-y: {description: why Y differs., references: [own ref], fixed_by: []}\n"
    members = expand_family(family, "fam.yaml")
    a_x = load_scenario(members["fam-a-x"], source="fam.yaml (fam-a-x)")
    assert a_x.references == ("self.c: Case A ... with backing X", "case ref", "backing ref")
    assert a_x.description == "Case A ... with backing X: on X. shared words. the family"
    assert a_x.fixed_by == ("a7f226604170",)
    a_y = load_scenario(members["fam-a-y"], source="fam.yaml (fam-a-y)")
    assert a_y.references == ("self.c: Case A ... with backing Y", "own ref")  # in place of the case's
    assert a_y.description == "Case A ... with backing Y: on Y. shared words. why Y differs. the family"
    assert a_y.fixed_by == ()


def test_a_declaration_says_only_what_a_member_may_declare() -> None:
    with pytest.raises(FamilyError, match=r"declared\.fam-a-x: steps"):
        expand_family(FAMILY + "  fam-a-x: {steps: []}\n", "fam.yaml")


def test_two_members_of_one_name_are_an_error() -> None:
    clash = (  # case b-x on backing y, and case b on backing x-y
        FAMILY.replace("{name: a, selftest: Case A,", "{name: b-x, selftest: Case A,")
        .replace("- {name: x, selftest: backing X,", "- {name: x-y, selftest: backing X,")
        .replace("  fam-b-y:", "  fam-b-x-x-y:")
    )
    with pytest.raises(FamilyError, match="two members named fam-b-x-y"):
        expand_family(clash, "fam.yaml")


SIZES = (16, 32, 64, 128, 256, 512, 1024)


def test_cow_c_anon_cases_are_one_family_named_as_cow_c_prints_them() -> None:
    """cow.c's fourteen anon cases on its seventeen backings: families/cow-anon.yaml, each
    member named as the catalog always named it and referring to cow.c's result line."""
    cases = [
        "basic-fork", "basic-fork-mprotect", "vmsplice-unmap-child", "vmsplice-unmap-child-mprotect",
        "vmsplice-before-fork-unmap-parent", "vmsplice-unmap-parent", "iouring-ro-mapped",
        "iouring-fork", "ro-pin-shared", "ro-pin-previously-shared", "ro-pin-exclusive",
        "ro-fast-pin-shared", "ro-fast-pin-previously-shared", "ro-fast-pin-exclusive",
    ]  # fmt: skip
    backings = [
        "base", "swap", "thp", "thp-swap", "pte-thp", "pte-thp-swap", "single-pte-thp",
        "single-pte-thp-swap", "mremap-thp", "shared-thp", "hugetlb", "mthp-pte", "mthp-pte-swap",
        "mthp-single-pte", "mthp-single-pte-swap", "mthp-mremap", "mthp-shared",
    ]  # fmt: skip
    names = set(builtin_names())
    assert {f"cow-{c}-{b}" for c in cases for b in backings} <= names
    mthp = load_builtin("cow-basic-fork-mthp-single-pte-swap")  # one member for every mTHP size
    assert mthp.references[:8] == (
        *(f"cow.c: Basic COW after fork() ... with single PTE of swapped-out THP ({k} kB)" for k in SIZES),
        "cow.c verdict: No leak from parent into child",
    )
    assert "(16, 32, 64, 128, 256, 512, 1024 kB)" in mthp.description
    pte = load_builtin("cow-basic-fork-pte-thp")
    assert pte.references[:2] == (
        "cow.c: Basic COW after fork() ... with PTE-mapped THP (2048 kB)",
        "cow.c verdict: No leak from parent into child",
    )
    assert pte.source == "<builtin>/families/cow-anon.yaml (cow-basic-fork-pte-thp)"
    assert load_builtin("cow-ro-pin-shared-swap").references[0] == (
        "cow.c: R/O GUP pin on R/O-mapped shared page ... with swapped out base page"
    )
    hugetlb = load_builtin("cow-iouring-fork-hugetlb")
    assert hugetlb.references[:2] == (
        "cow.c: fork() with an iouring fixed buffer ... with hugetlb (2048 kB)",
        "cow.c: fork() with an iouring fixed buffer ... with hugetlb (1048576 kB)",
    )
    assert hugetlb.fixed_by == ("4eae4efa2c29",)  # declared for the member, not the case's 70e806e4e645
    swap = load_builtin("cow-vmsplice-unmap-child-swap")
    assert "c145e0b47c77 mm: streamline COW logic in do_swap_page()" in swap.references
    assert "reuse_swap_page counts mapcount + swapcount = 1" in swap.description


def test_a_member_named_as_a_scenario_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from cowlab.scenario import catalog

    files = catalog._files

    def with_a_copy(folder: str = "scenarios") -> dict[str, object]:
        found: dict[str, object] = dict(files(folder))
        if folder == "scenarios":
            found["cow-basic-fork-base"] = found["gaudi"]
        return found

    monkeypatch.setattr(catalog, "_files", with_a_copy)
    catalog._family_members.cache_clear()
    try:
        with pytest.raises(FamilyError, match=r"cow-basic-fork-base is also <builtin>/cow-basic-fork-base"):
            catalog._family_members()
    finally:
        catalog._family_members.cache_clear()
