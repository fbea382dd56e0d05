"""Parse the TAP an oracle program prints (kselftest flavour: ``TAP version 13``,
a plan, one line per test, ``# Totals: ...``).

Strict on purpose: a missing plan, a missing or contradicting Totals line, a
missing test number or a bail-out are errors, so output cut short is never read
as a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

OK, NOT_OK, SKIP, ERROR, XFAIL, XPASS = "ok", "not ok", "skip", "error", "xfail", "xpass"

_VERSION = re.compile(r"TAP version (\d+)\s*$")
_PLAN = re.compile(r"1\.\.(\d+)\s*(?:#\s*(.*))?$")
_RESULT = re.compile(r"(not ok|ok)\b\s*(\d*)")
_DIRECTIVE = re.compile(r"(?:^|\s)#\s*(SKIP|TODO|ERROR)\S*\s*(.*)$", re.IGNORECASE)
#: kselftest's closing "# Totals: ..." line (also read by the selftest runner)
TOTALS = re.compile(
    r"# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) "
    r"error:(\d+)\s*$"
)
_PROMISE = re.compile(r"([a-z_]+):\s")


@dataclass(frozen=True)
class TapTest:
    number: int
    #: ok, not ok, skip, error (not ok # ERROR), xfail (not ok # TODO), xpass (ok # TODO)
    status: str
    description: str
    #: the SKIP / TODO / ERROR reason
    reason: str = ""

    @property
    def promise(self) -> str | None:
        """The promise a cowlab oracle line names first (``pin_coherence: ...``)."""
        m = _PROMISE.match(self.description)
        return m[1] if m else None


@dataclass(frozen=True)
class TapTotals:
    passed: int
    failed: int
    xfail: int
    xpass: int
    skipped: int
    error: int


@dataclass(frozen=True)
class TapResult:
    version: int | None
    plan: int | None
    tests: dict[int, TapTest]
    totals: TapTotals | None
    #: why this output cannot be trusted; empty when it is well formed
    errors: tuple[str, ...]
    #: ``#`` lines other than Totals, without the ``# ``
    diagnostics: tuple[str, ...] = ()
    #: lines that are none of the above
    unparsed: tuple[str, ...] = field(default=())

    def numbers(self, *statuses: str) -> list[int]:
        return [n for n, t in sorted(self.tests.items()) if t.status in statuses]

    @property
    def passed(self) -> list[int]:
        return self.numbers(OK, XPASS)

    @property
    def failed(self) -> list[int]:
        return self.numbers(NOT_OK, ERROR)

    @property
    def skipped(self) -> list[int]:
        return self.numbers(SKIP)

    @property
    def verdict(self) -> str:
        """error (malformed or incomplete), fail, skip (nothing ran) or pass."""
        if self.errors:
            return "error"
        if self.failed:
            return "fail"
        if len(self.skipped) == len(self.tests):
            return "skip"
        return "pass"

    @property
    def ok(self) -> bool:
        return self.verdict in ("pass", "skip")


def _result(line: str, lineno: int, errors: list[str]) -> TapTest | None:
    m = _RESULT.match(line)
    assert m is not None
    if not m[2]:
        errors.append(f"line {lineno}: result without a test number: {line!r}")
        return None
    rest = line[m.end() :]
    d = _DIRECTIVE.search(rest)
    desc = rest[: d.start()] if d else rest
    desc = desc.strip().removeprefix("-").strip()
    ok = m[1] == "ok"
    status = OK if ok else NOT_OK
    reason = ""
    if d:
        directive, reason = d[1].upper(), d[2].strip()
        if directive == "SKIP":
            status = SKIP if ok else NOT_OK
        elif directive == "TODO":
            status = XPASS if ok else XFAIL
        elif not ok:
            status = ERROR
    return TapTest(int(m[2]), status, desc, reason)


def _check_totals(totals: TapTotals, tests: dict[int, TapTest], errors: list[str]) -> None:
    counted = {
        "pass": sum(t.status == OK for t in tests.values()),
        "fail": sum(t.status == NOT_OK for t in tests.values()),
        "xfail": sum(t.status == XFAIL for t in tests.values()),
        "xpass": sum(t.status == XPASS for t in tests.values()),
        "skip": sum(t.status == SKIP for t in tests.values()),
        "error": sum(t.status == ERROR for t in tests.values()),
    }
    claimed = dict(
        zip(
            counted,
            (totals.passed, totals.failed, totals.xfail, totals.xpass, totals.skipped, totals.error),
            strict=True,
        )
    )
    for key, value in claimed.items():
        if value != counted[key]:
            errors.append(f"Totals say {key}:{value} but the output has {counted[key]}")


def parse_tap(text: str) -> TapResult:
    errors: list[str] = []
    version: int | None = None
    plan: int | None = None
    totals: TapTotals | None = None
    tests: dict[int, TapTest] = {}
    diagnostics: list[str] = []
    unparsed: list[str] = []
    last = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.rstrip()
        if not stripped:
            continue
        if m := _VERSION.match(stripped):
            if version is not None or tests or plan is not None:
                errors.append(f"line {lineno}: unexpected {stripped!r}")
            version = int(m[1])
        elif m := _PLAN.match(stripped):
            if plan is not None:
                errors.append(f"line {lineno}: a second plan {stripped!r}")
            plan = int(m[1])
        elif stripped.startswith("# Totals"):
            if not (m := TOTALS.match(stripped)):
                errors.append(f"line {lineno}: malformed Totals line {stripped!r}")
            elif totals is not None:
                errors.append(f"line {lineno}: a second Totals line")
            else:
                totals = TapTotals(*(int(g) for g in m.groups()))
        elif stripped.startswith("#"):
            diagnostics.append(stripped[1:].strip())
        elif stripped.startswith("Bail out!"):
            errors.append(f"line {lineno}: {stripped}")
        elif _RESULT.match(stripped):
            test = _result(stripped, lineno, errors)
            if test is None:
                continue
            if test.number in tests:
                errors.append(f"line {lineno}: test {test.number} reported twice")
            elif test.number != last + 1:
                errors.append(f"line {lineno}: test {test.number} follows test {last}")
            tests[test.number] = test
            last = max(last, test.number)
        else:
            unparsed.append(stripped)
    if version is None:
        errors.append("no 'TAP version' line")
    if plan is None:
        errors.append("no plan line (1..N): the output is incomplete")
    else:
        missing = [n for n in range(1, plan + 1) if n not in tests]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
            errors.append(f"{len(missing)} of {plan} planned tests have no result: {shown}")
        extra = [n for n in tests if n > plan]
        if extra:
            errors.append(f"tests beyond the plan of {plan}: {', '.join(map(str, extra))}")
    if totals is None:
        errors.append("no '# Totals' line: the output is incomplete")
    else:
        _check_totals(totals, tests, errors)
    return TapResult(version, plan, tests, totals, tuple(errors), tuple(diagnostics), tuple(unparsed))
