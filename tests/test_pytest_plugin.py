"""The pytest plugin: a user's scenario file with an ``expect:`` map is a test per
kernel, and a failing one shows the trace."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SCENARIO = """\
name: pin-then-numa
machine: {nodes: 2, numa_balancing: true}
processes:
  - name: P
    threads:
      - {name: T1, node: 0}
      - {name: T2, node: 0}
steps:
  - T1: {mmap: buf}
  - T1: {write: buf}
  - kernel: lru_drain
  - T1: {pin: buf, as: dma, flags: [FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM], fast: true}
  - T2: numa_scan
  - kernel: {move: T1, node: 1}
  - T1: {read: buf, until: migrate.unmapped}
  - T2: numa_scan
  - T1: resume
  - T1: {write: buf}
  - device: {dma_write: dma}
  - T1: {read: buf}
expect:
  v5.16: pin_coherence
  v5.17: holds
  {extra}
"""


def _run(pytester: pytest.Pytester, extra: str) -> pytest.RunResult:
    pytester.makefile(".yaml", test_gaudi=SCENARIO.replace("{extra}", extra))
    # the plugin is loaded by its entry point once cowlab is installed; name it here too,
    # so that the test does not depend on how this checkout was installed
    return pytester.runpytest_subprocess("-p", "no:cowlab", "-p", "cowlab.pytest_plugin", "-v")


def test_each_expected_kernel_is_a_test(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "v5.8: holds")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_gaudi.yaml::v5.16 PASSED*", "*test_gaudi.yaml::v5.17 PASSED*"])


def test_a_wrong_expectation_fails_with_the_trace(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "v5.10.262: broken")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*pin-then-numa on v5.10.262: expected broken, got holds*",
            "*change_pte_range: COW mapping, refcount 1025 != 1 -> skip (80d47f5de5e3)*",
        ]
    )


def test_a_bad_expectation_is_a_collection_error_naming_the_field(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "v5.99: holds")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_gaudi.yaml*expect.v5.99*"])
