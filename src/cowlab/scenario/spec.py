"""A scenario: the machine, the processes and threads, and the ordered steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from cowlab.scenario.actions import Action

DEVICE = "device"
KERNEL = "kernel"
KSWAPD = "kswapd"


@dataclass(frozen=True)
class ThreadSpec:
    name: str
    node: int = 0
    #: node the thread is bound to (sched_setaffinity), or None
    affinity: int | None = None


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    threads: tuple[ThreadSpec, ...]


@dataclass(frozen=True)
class FileSpec:
    """A file whose pages mappings may map (its page cache is populated), on a
    filesystem of type ``fs``: tmpfs (memfd, shmem) has no writeback, a disk
    filesystem (ext4, xfs, btrfs) has; on hugetlbfs each page is a huge page and every
    mapping of the file is a hugetlb mapping."""

    name: str
    pages: int = 1
    fs: str = "ext4"


@dataclass(frozen=True)
class MachineSpec:
    nodes: int = 2
    numa_balancing: bool = True


@dataclass(frozen=True)
class Step:
    """``actor`` (a thread, ``device``, ``kernel`` or ``kswapd``) does ``action``;
    with ``until`` the actor's kernel operation stops when it reaches that stage."""

    actor: str
    action: Action
    until: str | None = None
    #: source line in the scenario file, for error messages
    line: int | None = None
    #: stop the nth time the operation reaches ``until`` (a stage can recur: migration passes)
    nth: int = 1
    #: a kernel choice for the first stage this step runs (``trylock_fail``, ``transient_ref``)
    choose: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    machine: MachineSpec
    processes: tuple[ProcessSpec, ...]
    steps: tuple[Step, ...]
    description: str = ""
    #: file the scenario came from (None when built in Python)
    source: str | None = None
    #: free-form references: commits, CVEs, mails
    references: tuple[str, ...] = field(default=())
    files: tuple[FileSpec, ...] = ()
    #: catalog claims, checked by bisect in the tests: commits at which the verdict turns
    #: broken (first bad) and turns back to holding (first good), oldest first
    introduced_by: tuple[str, ...] = ()
    fixed_by: tuple[str, ...] = ()
    #: overrides of the compact state's bounds: (bound, value), from ``bounds:``
    bounds: tuple[tuple[str, int], ...] = ()
    #: (kernel, expectation) from ``expect:``: ``holds``, ``broken`` or a promise name
    expect: tuple[tuple[str, str], ...] = ()
