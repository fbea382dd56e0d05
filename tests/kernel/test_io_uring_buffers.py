"""io_uring fixed buffers on file mappings (docs/research/iouring-file-buffers.md):
io_uring's own refusal of file-backed buffers up to v6.4, shmem let through from
40dad765c045 (v5.14, 5.10.162), the decision left to GUP from 34ed8d0dcd69 (v6.5),
GUP-fast first from 1943f96b3816 (v6.10); each on both sides of its commit, observed
through the buffer the device holds and what the call returned."""

from __future__ import annotations

import pytest

from cowlab.model import state as S
from cowlab.model.events import CallReturned
from cowlab.scenario import ScenarioError, load_scenario
from tests.conftest import broken, decisions, run_builtin, run_text
from tests.kernel.test_shared_file import scenario

REGISTER = "- T1: {pin: mem, as: fixed, by: io_uring}"


def register(fs: str, shared: bool, kernel: str, revert: tuple[str, ...] = ()):
    steps = f"- T1: {{mmap: mem, file: f, shared: {str(shared).lower()}}}\n- T1: {{write: mem}}\n{REGISTER}"
    return run_text(scenario(steps, fs=fs), kernel, revert)


def returned(result) -> str:
    (call,) = [e for r in result.steps for e in r.events if type(e) is CallReturned]
    return call.result


@pytest.mark.parametrize(
    ("kernel", "revert", "result"),
    [("v6.4", (), "eopnotsupp"), ("v6.5", (), "done"), ("v6.5", ("34ed8d0dcd69",), "eopnotsupp")],
)
def test_a_private_file_buffer_is_refused_by_io_uring_until_34ed8d0dcd69(
    kernel: str, revert: tuple[str, ...], result: str
) -> None:
    outcome = register("ext4", False, kernel, revert)
    assert returned(outcome) == result
    assert (S.ref_named(outcome.machine, "fixed") >= 0) is (result == "done")


@pytest.mark.parametrize(
    ("kernel", "result"),
    [("v5.13", "eopnotsupp"), ("v5.14", "done"), ("v5.10.161", "eopnotsupp"), ("v5.10.162", "done")],
)
def test_a_memfd_buffer_registers_from_40dad765c045_and_5_10_162(kernel: str, result: str) -> None:
    assert returned(register("tmpfs", True, kernel)) == result


@pytest.mark.parametrize(("kernel", "result"), [("v6.4", "eopnotsupp"), ("v6.5", "efault")])
def test_a_shared_ext4_buffer_is_refused_before_and_after_34ed8d0dcd69_by_different_checks(
    kernel: str, result: str
) -> None:
    assert returned(register("ext4", True, kernel)) == result


@pytest.mark.parametrize(("kernel", "fast"), [("v6.9", False), ("v6.10", True)])
def test_io_uring_pins_through_gup_fast_from_1943f96b3816(kernel: str, fast: bool) -> None:
    outcome = register("tmpfs", True, kernel)
    assert any("gup_fast" in d for d in decisions(outcome)) is fast


def test_before_io_uring_the_call_does_not_exist() -> None:
    assert returned(register("tmpfs", True, "v5.0")) == "enosys"


def test_the_declared_outcome_is_a_promise() -> None:
    """gup_longterm's case 10 on a disk filesystem: the selftest expects the private
    buffer to register, io_uring refuses it up to v6.4."""
    assert broken(run_builtin("gup-longterm-iouring-private-local-tmpfile", "v6.1.192")) == ["call_result"]
    assert broken(run_builtin("gup-longterm-iouring-private-local-tmpfile", "v6.12.117")) == []


def test_io_uring_chooses_its_own_flags() -> None:
    text = scenario("- T1: {mmap: mem}\n- T1: {pin: mem, as: x, by: io_uring, fast: true}")
    with pytest.raises(ScenarioError, match="io_uring chooses its own flags"):
        load_scenario(text, source="t.yaml")
