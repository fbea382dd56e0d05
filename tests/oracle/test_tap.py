"""parse_tap on handwritten kselftest-style TAP."""

from __future__ import annotations

from cowlab.oracle import parse_tap

PASS = """TAP version 13
1..2
# cowlab oracle: scenario vmsplice-child
ok 1 - no_lost_write: steps[3] C read mem reads token 1 (P write at steps[1])
ok 2 - fork_isolation: steps[7] C pipe_read pipe sees only data C may see
# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0
"""

FAIL = """TAP version 13
1..2
ok 1 - no_lost_write: steps[3] C read mem reads token 1 (P write at steps[1])
# steps[7] C pipe_read pipe: saw token 2 (P write at steps[6]), written by another process
not ok 2 - fork_isolation: steps[7] C pipe_read pipe sees only data C may see
# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0
"""

SKIP = """TAP version 13
1..2
ok 1 - ro_pin_coherence: steps[7] device dma_read ropin reads token 2 # SKIP R/O pins need gup_test
ok 2 # SKIP needs active swap
# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:2 error:0
"""


def test_pass() -> None:
    tap = parse_tap(PASS)
    assert tap.errors == ()
    assert (tap.version, tap.plan, tap.verdict, tap.ok) == (13, 2, "pass", True)
    assert tap.passed == [1, 2] and tap.failed == [] and tap.skipped == []
    assert tap.tests[2].promise == "fork_isolation"
    assert tap.tests[1].description.startswith("no_lost_write: steps[3] C read mem")
    assert tap.totals is not None and tap.totals.passed == 2
    assert tap.diagnostics == ("cowlab oracle: scenario vmsplice-child",)


def test_fail() -> None:
    tap = parse_tap(FAIL)
    assert tap.errors == ()
    assert tap.verdict == "fail" and not tap.ok
    assert tap.failed == [2] and tap.tests[2].status == "not ok"
    assert tap.tests[2].promise == "fork_isolation"


def test_skip() -> None:
    tap = parse_tap(SKIP)
    assert tap.errors == ()
    assert tap.verdict == "skip" and tap.ok
    assert tap.skipped == [1, 2]
    assert tap.tests[1].reason == "R/O pins need gup_test"
    assert tap.tests[1].description == "ro_pin_coherence: steps[7] device dma_read ropin reads token 2"
    assert tap.tests[2].description == "" and tap.tests[2].reason == "needs active swap"
    assert tap.tests[2].promise is None


def test_missing_totals_is_an_error() -> None:
    tap = parse_tap(PASS.replace("# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0\n", ""))
    assert tap.verdict == "error" and not tap.ok
    assert any("Totals" in e for e in tap.errors)


def test_truncated_output_is_an_error() -> None:
    """Cut after the first result: neither the missing test nor the run counts as passed."""
    tap = parse_tap("\n".join(PASS.splitlines()[:4]))
    assert tap.verdict == "error"
    assert tap.passed == [1]
    assert any("1 of 2 planned tests have no result: 2" in e for e in tap.errors)
    assert any("Totals" in e for e in tap.errors)


def test_empty_output_is_an_error() -> None:
    tap = parse_tap("")
    assert tap.verdict == "error"
    assert any("plan" in e for e in tap.errors)
    assert any("TAP version" in e for e in tap.errors)


def test_missing_plan_is_an_error() -> None:
    tap = parse_tap(PASS.replace("1..2\n", ""))
    assert tap.verdict == "error"
    assert any("no plan" in e for e in tap.errors)


def test_plan_at_the_end_is_accepted() -> None:
    text = PASS.replace("1..2\n", "").replace("# Totals", "1..2\n# Totals")
    assert parse_tap(text).errors == ()


def test_totals_that_contradict_the_results() -> None:
    tap = parse_tap(FAIL.replace("pass:1 fail:1", "pass:2 fail:0"))
    assert tap.verdict == "error"
    assert "Totals say pass:2 but the output has 1" in tap.errors
    assert "Totals say fail:0 but the output has 1" in tap.errors


def test_malformed_lines() -> None:
    text = PASS.replace("ok 2 -", "ok -").replace("error:0", "error:zero")
    tap = parse_tap(text)
    assert any("result without a test number" in e for e in tap.errors)
    assert any("malformed Totals" in e for e in tap.errors)
    assert any("planned tests have no result: 2" in e for e in tap.errors)


def test_duplicate_and_out_of_order_numbers() -> None:
    tap = parse_tap(PASS.replace("ok 2 -", "ok 1 -"))
    assert any("test 1 reported twice" in e for e in tap.errors)
    tap = parse_tap(PASS.replace("1..2", "1..3").replace("ok 2 -", "ok 3 -"))
    assert any("test 3 follows test 1" in e for e in tap.errors)


def test_bail_out() -> None:
    tap = parse_tap("TAP version 13\n1..1\nBail out! mmap of the shared results: ENOMEM\n")
    assert tap.verdict == "error"
    assert any("Bail out!" in e for e in tap.errors)


def test_error_and_todo_directives() -> None:
    text = """TAP version 13
1..3
not ok 1 - pin_coherence: x # ERROR steps[4] T1 read did not complete within 60 s
not ok 2 - no_lost_write: y # TODO known kernel bug
ok 3 - no_lost_write: z # TODO fixed now
# Totals: pass:0 fail:0 xfail:1 xpass:1 skip:0 error:1
"""
    tap = parse_tap(text)
    assert tap.errors == ()
    assert [t.status for t in tap.tests.values()] == ["error", "xfail", "xpass"]
    assert tap.tests[1].reason == "steps[4] T1 read did not complete within 60 s"
    assert tap.failed == [1] and tap.verdict == "fail"


def test_empty_plan_skips() -> None:
    tap = parse_tap("TAP version 13\n1..0\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n")
    assert tap.errors == () and tap.verdict == "skip"
