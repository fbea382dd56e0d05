"""Bisect names the commit each built-in scenario declares, from the mechanism."""

from __future__ import annotations

import pytest

from cowlab.engine.bisect import bisect
from cowlab.engine.matrix import matrix
from cowlab.scenario.catalog import builtin_names, load_builtin

CASES = [
    # scenario, older, newer, first changing commit, direction
    ("gaudi", "v5.8", "v5.16", "09854ba94c6a", "first bad"),
    ("gaudi", "v5.16", "v5.17", "80d47f5de5e3", "first good"),
    ("gaudi", "v5.10", "v5.10.262", "80d47f5de5e3", "first good"),
    ("iouring-mprotect", "v5.8", "v5.9", "09854ba94c6a", "first bad"),
    ("iouring-mprotect", "v5.18", "v5.19", "6c287605fd56", "first good"),
    ("vmsplice-child", "v4.9", "v6.12", "17839856fd58", "first good"),
    ("vmsplice-child-swap", "v5.9", "v5.18", "c145e0b47c77", "first good"),
    ("rdma-fork", "v5.8", "v5.9", "70e806e4e645", "first good"),
    ("iouring-swap", "v5.9", "v5.11", "feb889fb40fa", "first good"),
    ("ro-pin-after-fork", "v5.18", "v5.19", "a7f226604170", "first good"),
]


@pytest.mark.parametrize(("name", "older", "newer", "commit", "direction"), CASES)
def test_bisect_names_the_commit(name: str, older: str, newer: str, commit: str, direction: str) -> None:
    result = bisect(load_builtin(name), older, newer)
    first = result.first
    assert first is not None
    assert (first.commit.short, first.direction) == (commit, direction)
    assert first.step is not None and first.decisions_before != first.decisions_after


def test_bisect_order_of_ends_does_not_matter() -> None:
    a = bisect(load_builtin("gaudi"), "v5.16", "v5.8")
    assert a.first is not None and a.first.commit.short == "09854ba94c6a"


def test_bisect_over_the_whole_timeline_lists_every_change() -> None:
    result = bisect(load_builtin("gaudi"), "v4.8", "v6.12")
    assert [c.commit.short for c in result.changes] == ["09854ba94c6a", "80d47f5de5e3"]


def test_stable_kernels_carry_their_backports() -> None:
    mx = matrix(
        [load_builtin("gaudi"), load_builtin("iouring-mprotect"), load_builtin("iouring-swap")],
        ("v5.10", "v5.10.8", "v5.10.9", "v5.10.101", "v5.10.102", "v5.10.262", "v6.1.192", "v6.12.117"),
    )
    rows = {sc.name: [v.split(":")[0] for v in verdicts] for sc, verdicts in mx.rows}
    assert rows["gaudi"] == ["broken"] * 4 + ["holds"] * 4
    assert rows["iouring-swap"] == ["broken", "broken"] + ["holds"] * 6
    # docs/oracle-report.md: a real 5.10.262 copies the mprotect'ed pinned page, 6.1 and 6.12 keep it
    assert rows["iouring-mprotect"] == ["broken"] * 6 + ["holds"] * 2


def test_bisect_dirty_cow() -> None:
    result = bisect(load_builtin("dirty-cow"), "v4.8", "v6.12")
    assert [(c.commit.short, c.direction) for c in result.changes] == [("19be0eaffa3a", "first good")]


@pytest.mark.parametrize("name", builtin_names())
def test_catalog_entries_bisect_to_the_commits_they_declare(name: str) -> None:
    """Each built-in scenario declares the commits that broke and fixed it; bisecting
    across the whole modeled timeline must find exactly those, in that order."""
    scenario = load_builtin(name)
    result = bisect(scenario, "v4.8", "v6.12")
    assert [c.commit.short for c in result.changes if c.direction == "first bad"] == list(
        scenario.introduced_by
    )
    assert [c.commit.short for c in result.changes if c.direction == "first good"] == list(scenario.fixed_by)
