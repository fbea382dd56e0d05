"""A broken promise."""

from __future__ import annotations

from typing import NamedTuple

PIN_COHERENCE = "pin_coherence"
RO_PIN_COHERENCE = "ro_pin_coherence"
FORK_ISOLATION = "fork_isolation"
NO_LOST_WRITE = "no_lost_write"
FILE_ISOLATION = "file_isolation"
FILE_PIN_WRITEBACK = "file_pin_writeback"
CALL_RESULT = "call_result"
PROGRESS = "progress"
MODEL_SANITY = "model_sanity"

#: what each promise says, for `cowlab run` and the docs
PROMISES: dict[str, str] = {
    PIN_COHERENCE: "the page a R/W pin's device reads and writes is the page the pinning "
    "process maps at that address",
    RO_PIN_COHERENCE: "a R/O pin's device reads what the pinning process last wrote there",
    FORK_ISOLATION: "no process sees data written by another after they forked apart",
    NO_LOST_WRITE: "a process reads back the last thing written at an address (by its CPU, or "
    "by a device through its pin)",
    FILE_ISOLATION: "a write through a private (MAP_PRIVATE) mapping never reaches the file, "
    "nor the (huge) zero page every process shares",
    FILE_PIN_WRITEBACK: "no long-term write pin holds a page-cache page of a filesystem with "
    "writeback (writeback would clean the page under the device's writes)",
    CALL_RESULT: "a call whose outcome the scenario declares (`expect:` on the step: a "
    "selftest's own assertion) has that outcome",
    PROGRESS: "a system call that runs alone returns (the kernel does not loop forever)",
    MODEL_SANITY: "refcount and mapcount agree with mappings, pins, swap cache and batches; no "
    "freed page is mapped (a failure is a bug in cowlab)",
}


class Violation(NamedTuple):
    """``subject`` identifies the broken instance (a pin, an address) so a report
    names each once."""

    invariant: str
    detail: str
    subject: str = ""
