"""The promises users are given, independent of kernel version, and the model's sanity."""

from cowlab.invariants.sanity import check_sanity
from cowlab.invariants.spec import (
    RefSpec,
    Spec,
    check_files,
    check_pins,
    initial_spec,
    observe,
    resolve,
)
from cowlab.invariants.violation import (
    CALL_RESULT,
    FILE_ISOLATION,
    FILE_PIN_WRITEBACK,
    FORK_ISOLATION,
    MODEL_SANITY,
    NO_LOST_WRITE,
    PIN_COHERENCE,
    PROGRESS,
    PROMISES,
    RO_PIN_COHERENCE,
    Violation,
)

__all__ = [
    "CALL_RESULT",
    "FILE_ISOLATION",
    "FILE_PIN_WRITEBACK",
    "FORK_ISOLATION",
    "MODEL_SANITY",
    "NO_LOST_WRITE",
    "PIN_COHERENCE",
    "PROGRESS",
    "PROMISES",
    "RO_PIN_COHERENCE",
    "RefSpec",
    "Spec",
    "Violation",
    "check_files",
    "check_pins",
    "check_sanity",
    "initial_spec",
    "observe",
    "resolve",
]
