"""A driver's pin can state the return it expects (`expect: ok|refused` on a `pin`
step), as io_uring registrations do: the promise call_result holds it to what
pin_user_pages() returned.  The 6.1.y branch's own bug is the case in point: its
backport 476c1dfefab8 (6.1.130) of c8070b787519 makes every FOLL_PIN of the shared
zero page fail with -ENOMEM, until a stable-only fix in 6.1.135."""

from __future__ import annotations

import pytest

from cowlab.history import UnknownKernelError, kernel_at
from cowlab.history.stable import backports_in
from cowlab.scenario import ScenarioError
from tests.conftest import broken, decisions, run_builtin, run_text, scenario_text

ZERO_PAGE_PIN = "vfio-zero-page-pin"


@pytest.mark.parametrize(
    ("kernel", "revert", "fails"),
    [
        ("v6.1.129", (), False),
        ("v6.1.130", (), True),
        ("v6.1.130", ("476c1dfefab8",), False),
        ("v6.1.134", (), True),
        ("v6.1.135", (), False),
        ("v6.1.192", (), False),
        ("v6.1", (), False),
        ("v6.18", (), False),
    ],
)
def test_a_pin_of_the_zero_page_fails_on_6_1_130_to_134(
    kernel: str, revert: tuple[str, ...], fails: bool
) -> None:
    result = run_builtin(ZERO_PAGE_PIN, kernel, revert)
    assert broken(result) == (["call_result"] if fails else [])
    assert any("try_grab_page" in d and "-ENOMEM" in d for d in decisions(result)) is fails


def test_only_the_releases_between_the_backport_and_the_fix_carry_it() -> None:
    assert [n for n in (129, 130, 134, 135, 192) if backports_in("v6.1", n)] == [130, 134]
    assert kernel_at("v6.1.130").has("476c1dfefab8") and not kernel_at("v6.1.135").has("476c1dfefab8")


def test_a_stable_only_commit_is_no_mainline_kernel() -> None:
    with pytest.raises(UnknownKernelError, match="exists only on a stable branch"):
        kernel_at("476c1dfefab8")


@pytest.mark.parametrize(("expect", "holds"), [("refused", True), ("ok", False)])
def test_a_refused_driver_pin_is_held_to_its_expectation(expect: str, holds: bool) -> None:
    """GUP refuses a write pin of a read-only mapping without FOLL_FORCE (-EFAULT)."""
    steps = f"""
        - T1: {{mmap: buf, prot: r}}
        - T1: {{pin: buf, as: dma, flags: [FOLL_PIN, FOLL_WRITE, FOLL_LONGTERM], expect: {expect}}}
    """
    result = run_text(scenario_text(steps), "v6.18")
    assert broken(result) == ([] if holds else ["call_result"])


def test_a_step_on_a_refused_pin_does_nothing_and_says_so() -> None:
    """cow.c's R/O pin of the shared zero page on 6.1.130: PIN_LONGTERM_TEST_START fails,
    which cow.c reports as a failure; the later read through the pin has nothing to read."""
    result = run_builtin("cow-non-anon-ro-pin-zeropage", "v6.1.130")
    assert broken(result)[0] == "call_result"
    notes = [str(e) for r in result.steps for e in r.events]
    assert any("no pin gup_test: the kernel refused it, so there is nothing to read" in n for n in notes)
    assert broken(run_builtin("cow-non-anon-ro-pin-zeropage", "v6.1.129")) == ["ro_pin_coherence"]


def test_a_pin_name_no_step_asked_for_is_still_an_error() -> None:
    steps = "- T1: {mmap: buf}\n- T1: {write: buf}\n- device: {dma_read: nope}"
    with pytest.raises(ScenarioError, match="no pin or pipe named 'nope' is held"):
        run_text(scenario_text(steps), "v6.18")
