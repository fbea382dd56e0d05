"""Tasks and their continuation frames in the compact state: a frame is a stage, a
result handed back by its callee, the page references it holds and integer locals.
"""

from __future__ import annotations

from cowlab.model.layout import (
    F_LOCALS_KIND,
    F_NHOLDS,
    F_RESULT,
    F_STAGE,
    FRAME_FIXED_WORDS,
    H_NTHREADS,
    T_AFFINITY,
    T_DEPTH,
    T_NAME,
    T_NODE,
    T_PID,
    LayoutOverflowError,
)
from cowlab.model.state.machine import FlatMachine

# --- tasks and continuation frames ----------------------------------------------------------


def new_thread(m: FlatMachine, name: str, pid: int, node: int, affinity: int) -> int:
    ti = m.v[H_NTHREADS]
    base = m.L.thread(ti)
    m.v[base + T_NAME] = m.L.symbols.intern(name)
    m.v[base + T_PID] = pid
    m.v[base + T_NODE] = node
    m.v[base + T_AFFINITY] = affinity
    m.v[H_NTHREADS] = ti + 1
    return ti


def set_task(m: FlatMachine, ti: int, name: str, pid: int, node: int, affinity: int) -> None:
    base = m.L.thread(ti)
    m.v[base + T_NAME] = m.L.symbols.intern(name)
    m.v[base + T_PID] = pid
    m.v[base + T_NODE] = node
    m.v[base + T_AFFINITY] = affinity


def clear_thread(m: FlatMachine, ti: int) -> None:
    base = m.L.thread(ti)
    for i in range(m.L.thread_words):
        m.v[base + i] = 0


def task_name(m: FlatMachine, ti: int) -> str:
    return m.L.symbols.name(m.v[m.L.thread(ti) + T_NAME])


def task_pid(m: FlatMachine, ti: int) -> int:
    return m.v[m.L.thread(ti) + T_PID]


def task_node(m: FlatMachine, ti: int) -> int:
    return m.v[m.L.thread(ti) + T_NODE]


def set_task_node(m: FlatMachine, ti: int, node: int) -> None:
    m.v[m.L.thread(ti) + T_NODE] = node


def task_cpu(m: FlatMachine, ti: int) -> int:
    """The CPU the task runs on: one CPU per node, so its per-CPU LRU batch is its node's."""
    return m.v[m.L.thread(ti) + T_NODE]


def task_affinity(m: FlatMachine, ti: int) -> int:
    return m.v[m.L.thread(ti) + T_AFFINITY]


def set_task_affinity(m: FlatMachine, ti: int, node: int) -> None:
    m.v[m.L.thread(ti) + T_AFFINITY] = node


def remove_thread(m: FlatMachine, ti: int) -> None:
    """The task goes (release_task): later tasks move down one index."""
    n = m.v[H_NTHREADS]
    if not 0 <= ti < n:
        raise IndexError(ti)
    first = m.L.thread(0)
    words = m.L.thread_words
    m.v[first + ti * words : first + (n - 1) * words] = m.v[first + (ti + 1) * words : first + n * words]
    clear_thread(m, n - 1)
    m.v[H_NTHREADS] = n - 1


def task_depth(m: FlatMachine, ti: int) -> int:
    """How many frames the thread's kernel operation has (0: in user space)."""
    return m.v[m.L.thread(ti) + T_DEPTH]


def push_frame(
    m: FlatMachine, ti: int, stage: int, kind: int, locals_: tuple[int, ...] = (), holds: tuple[int, ...] = ()
) -> None:
    """Call: a new innermost frame at ``stage`` with its locals (of schema ``kind``)."""
    depth = task_depth(m, ti)
    base = m.L.frame(ti, depth)
    _write_frame(m, base, stage, kind, locals_, holds)
    m.v[m.L.thread(ti) + T_DEPTH] = depth + 1


def pop_frame(m: FlatMachine, ti: int, result: int = 0) -> None:
    """Return from the innermost frame, handing ``result`` to its caller's frame."""
    depth = task_depth(m, ti) - 1
    if depth < 0:
        raise IndexError("pop of an idle thread")
    base = m.L.frame(ti, depth)
    for i in range(m.L.frame_words):
        m.v[base + i] = 0
    m.v[m.L.thread(ti) + T_DEPTH] = depth
    if depth:
        m.v[m.L.frame(ti, depth - 1) + F_RESULT] = result


def set_frame(
    m: FlatMachine,
    ti: int,
    stage: int,
    kind: int,
    locals_: tuple[int, ...] = (),
    holds: tuple[int, ...] = (),
    depth: int = -1,
) -> None:
    """Overwrite the frame at ``depth`` (its result is kept)."""
    base = _frame_base(m, ti, depth)
    result = m.v[base + F_RESULT]
    _write_frame(m, base, stage, kind, locals_, holds)
    m.v[base + F_RESULT] = result


def frame_words(m: FlatMachine, ti: int, depth: int = -1) -> bytes:
    """The frame's words as bytes (a key for what they decode to)."""
    base = _frame_base(m, ti, depth)
    return m.vector[base : base + m.L.frame_words].tobytes()


def frame_stage(m: FlatMachine, ti: int, depth: int = -1) -> int:
    return m.v[_frame_base(m, ti, depth) + F_STAGE]


def set_frame_stage(m: FlatMachine, ti: int, stage: int, depth: int = -1) -> None:
    m.v[_frame_base(m, ti, depth) + F_STAGE] = stage


def frame_result(m: FlatMachine, ti: int, depth: int = -1) -> int:
    return m.v[_frame_base(m, ti, depth) + F_RESULT]


def set_frame_result(m: FlatMachine, ti: int, result: int, depth: int = -1) -> None:
    m.v[_frame_base(m, ti, depth) + F_RESULT] = result


def frame_kind(m: FlatMachine, ti: int, depth: int = -1) -> int:
    """The schema of the frame's locals (see the kernel's frame registry)."""
    return m.v[_frame_base(m, ti, depth) + F_LOCALS_KIND]


def frame_locals(m: FlatMachine, ti: int, n: int, depth: int = -1) -> tuple[int, ...]:
    at = _frame_base(m, ti, depth) + FRAME_FIXED_WORDS + m.L.bounds.holds
    return tuple(m.vector[at : at + n])


def set_frame_locals(m: FlatMachine, ti: int, locals_: tuple[int, ...], depth: int = -1) -> None:
    if len(locals_) > m.L.bounds.locals:
        raise LayoutOverflowError("locals", m.L.bounds.locals, f"{len(locals_)} locals")
    at = _frame_base(m, ti, depth) + FRAME_FIXED_WORDS + m.L.bounds.holds
    for i, value in enumerate(locals_):
        m.v[at + i] = value


def frame_holds(m: FlatMachine, ti: int, depth: int = -1) -> tuple[int, ...]:
    base = _frame_base(m, ti, depth)
    n = m.v[base + F_NHOLDS]
    return tuple(m.vector[base + FRAME_FIXED_WORDS : base + FRAME_FIXED_WORDS + n])


def set_frame_holds(m: FlatMachine, ti: int, holds: tuple[int, ...], depth: int = -1) -> None:
    base = _frame_base(m, ti, depth)
    _write_holds(m, base, holds)


def _frame_base(m: FlatMachine, ti: int, depth: int) -> int:
    if depth < 0:
        depth += task_depth(m, ti)
    return m.L.frame(ti, depth)


def _write_frame(
    m: FlatMachine, base: int, stage: int, kind: int, locals_: tuple[int, ...], holds: tuple[int, ...]
) -> None:
    L = m.L
    n = len(locals_)
    if n > L.nr_locals:
        raise LayoutOverflowError("locals", L.nr_locals, f"{n} locals")
    m.v[base + F_STAGE] = stage
    m.v[base + F_RESULT] = 0
    m.v[base + F_LOCALS_KIND] = kind
    _write_holds(m, base, holds)
    at = base + FRAME_FIXED_WORDS + L.nr_holds
    for i in range(L.nr_locals):
        m.v[at + i] = locals_[i] if i < n else 0


def _write_holds(m: FlatMachine, base: int, holds: tuple[int, ...]) -> None:
    L = m.L
    n = len(holds)
    if n > L.nr_holds:
        raise LayoutOverflowError("holds", L.nr_holds, f"{n} page references in a frame")
    m.v[base + F_NHOLDS] = n
    for i in range(L.nr_holds):
        m.v[base + FRAME_FIXED_WORDS + i] = holds[i] if i < n else 0
