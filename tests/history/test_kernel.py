"""Naming kernels: releases, commits, reverts, and the errors for unknown names."""

from __future__ import annotations

import pytest

from cowlab.history import RELEASES, TIMELINE, UnknownKernelError, find_commit, kernel_at
from cowlab.history.releases import RELEASE_INDEX
from cowlab.history.rules import RULE_NAMES


def test_release_applies_every_commit_up_to_its_tag() -> None:
    k = kernel_at("v5.16")
    assert k.has("09854ba94c6a") and not k.has("80d47f5de5e3")
    assert kernel_at("v5.17").has("80d47f5de5e3")


def test_commit_names_the_prefix_of_the_timeline() -> None:
    k = kernel_at("a308c71bf1e6")
    assert k.commits[-1].short == "a308c71bf1e6"
    assert k.has("09854ba94c6a") and not k.has("008cfe4418b3")


def test_revert_undoes_a_commit_and_says_so() -> None:
    k = kernel_at("v5.16", ["09854ba94c6a"])
    assert not k.r.wp_reuse_refcount
    assert k.cite("wp_reuse_refcount") == "09854ba94c6a reverted"
    assert k.name == "v5.16 -09854ba94c6a"


def test_rule_switched_back_off_cites_the_later_commit() -> None:
    assert kernel_at("v5.8").r.gup_cow_break_on_read
    k = kernel_at("v5.9")
    assert not k.r.gup_cow_break_on_read
    assert k.cite("gup_cow_break_on_read") == "a308c71bf1e6"
    assert kernel_at("v5.7").cite("gup_cow_break_on_read") == "before 17839856fd58"


@pytest.mark.parametrize("bad", ["v9.9", "linus", "deadbeef00", "v5"])
def test_unknown_kernel_is_refused(bad: str) -> None:
    with pytest.raises(UnknownKernelError):
        kernel_at(bad)


def test_revert_of_a_commit_not_in_the_kernel_is_refused() -> None:
    with pytest.raises(UnknownKernelError, match=r"not in v5\.16"):
        kernel_at("v5.16", ["80d47f5de5e3"])


def test_timeline_is_ordered_by_release_and_rules_exist() -> None:
    indices = [RELEASE_INDEX[c.release] for c in TIMELINE]
    assert indices == sorted(indices)
    assert len({c.short for c in TIMELINE}) == len(TIMELINE)
    for commit in TIMELINE:
        assert len(commit.hash) == 12
        for rule, _ in commit.sets:
            assert rule in RULE_NAMES
    assert RELEASES[0] <= "v4.8" and "v6.12" in RELEASES


def test_short_prefix_finds_a_commit() -> None:
    assert find_commit("80d47f5").short == "80d47f5de5e3"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("5.16", "(did you mean 'v5.16'?)"),
        ("v5.16 ", "(did you mean 'v5.16'?)"),
        ("v\uff15.16", "(did you mean 'v5.16'?)"),
        ("5.10.262", "(did you mean 'v5.10.262'?)"),
        ("v05.16", ": give a release"),
    ],
)
def test_a_kernel_name_is_exact(name: str, hint: str) -> None:
    """A near miss is an error that names what was meant, never another kernel silently."""
    with pytest.raises(UnknownKernelError) as caught:
        kernel_at(name)
    assert hint in str(caught.value)


def test_a_stable_release_past_the_newest_known_is_said_as_such() -> None:
    assert kernel_at("v5.10.262").has("80d47f5de5e3")
    newest = r"newest v5\.10 stable release cowlab models is v5\.10\.262"
    with pytest.raises(UnknownKernelError, match=newest):
        kernel_at("v5.10.999999")
