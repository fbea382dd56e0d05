"""The exported program before it is C: which thread runs which step, with which
statements, and the promise checks (TAP tests) they make."""

from __future__ import annotations

from dataclasses import dataclass, field


class ExportError(ValueError):
    """A scenario (or some of its steps) has no userspace equivalent.

    ``problems`` holds one line per refused step: ``steps[i] ACTOR ACTION: reason``.
    """

    def __init__(self, scenario: str, problems: list[str]) -> None:
        self.scenario = scenario
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"scenario {scenario} cannot be exported to C:\n{lines}")


@dataclass(frozen=True)
class Check:
    """One TAP test: ``promise`` is the line's label when it passes (a failure may be
    relabelled fork_isolation at run time, as the model ranks a leak first)."""

    number: int
    promise: str
    desc: str
    #: short name of the step for diagnostics: ``steps[5] C read mem``
    what: str


@dataclass(frozen=True)
class Stop:
    """Where an op's thread is held in the kernel (an instrumented kernel's stop named
    after the model's stage), at its ``nth`` arrival there."""

    stage: str
    nth: int = 1


@dataclass
class Op:
    """One step of the C program, run by ``thread`` when it holds the baton.  An op
    with a ``stop`` arms the hold, hands the baton on at once and then makes its call,
    which parks in the kernel until a later op releases it."""

    label: str
    thread: str
    body: list[str] = field(default_factory=list)
    #: a fork: the child's thread, which runs its steps in the child
    fork_thread: str | None = None
    #: the process really exits (_exit) after handing the baton on
    exits: bool = False
    stop: Stop | None = None


@dataclass(frozen=True)
class ThreadInfo:
    name: str
    index: int
    process: int
    #: node to run on from the start (multi-node machines), else None
    node: int | None
    #: declared under processes (a pthread from the start), not created by fork
    initial: bool


@dataclass(frozen=True)
class FileInfo:
    name: str
    index: int
    tokens: tuple[int, ...]
    #: the file_isolation check at the end
    check: int
    #: what each page must hold at the end (stores through MAP_SHARED mappings reach it)
    final: tuple[int, ...] = ()
    #: on a filesystem with writeback (ext4, xfs, btrfs): a file in the working
    #: directory, else a memfd (tmpfs)
    disk: bool = False
    #: on hugetlbfs: a memfd with MFD_HUGETLB, one huge page per model page
    huge: bool = False


@dataclass
class Program:
    name: str
    description: str
    numa_balancing: bool
    processes: list[tuple[str, bool]]  # (name, declared at the top)
    threads: list[ThreadInfo]
    ops: list[Op]
    checks: list[Check]
    #: description of each token, index 0 = zero
    tokens: list[str]
    files: list[FileInfo]
    #: per check number: the tokens its process may see
    known: dict[int, tuple[int, ...]]
    approximations: list[str]
    nodes: list[int]
    needs_swap: bool
    #: free 2048 kB huge pages the run needs
    huge_pages: int
    needs_uring: bool
    numa_scans: int
    nregions: int
    npins: int
    #: pins io_uring can also take (R/W long-term FOLL_PIN): the rest need the module
    uring_pins: int
    npipes: int
    #: pins the scenario takes through io_uring itself (by: io_uring), never the module
    uring_calls: int = 0
    #: THP kinds the regions use: "thp" (PMD, 2048 kB), "mthp" (16 kB)
    thp_sizes: list[str] = field(default_factory=list)
    #: the kernel stops the program holds threads at: it needs a kernel built with
    #: cowlab's stops patch (``cowlab oracle build-kernel``) that has each of them
    stop_stages: list[str] = field(default_factory=list)

    @property
    def needs_disk_file(self) -> bool:
        """A file is on a filesystem with writeback: the run needs such a working directory."""
        return any(f.disk for f in self.files)

    def needs_module(self, pins: str = "module") -> bool:
        """The run needs the cowlab_pin module: for every pin (``pins="module"``, the
        default), or only for those io_uring cannot take (``pins="uring"``)."""
        return self.npins - self.uring_calls > (self.uring_pins if pins == "uring" else 0)
