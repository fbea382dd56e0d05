"""The actions a scenario step can take, shared by YAML files and the Python API.

An address is ``region`` or ``region[i]`` (page ``i`` of the region named at
mmap); reclaim, which no process performs, names the process too: ``P:buf[0]``.
"""

from __future__ import annotations

from dataclasses import dataclass

GUP_FLAG_NAMES = ("FOLL_WRITE", "FOLL_FORCE", "FOLL_GET", "FOLL_PIN", "FOLL_LONGTERM")
PROTS = ("rw", "r", "none")
ADVICES = (
    "dontneed",
    "dontfork",
    "dofork",
    "wipeonfork",
    "keeponfork",
    "pageout",
    "hugepage",
    "nohugepage",
    "collapse",
)


@dataclass(frozen=True)
class Mmap:
    """mmap() of ``pages`` pages, named ``name``: anonymous, or of ``file`` (declared
    under the scenario's ``files``) from its first page; MAP_PRIVATE unless ``shared``."""

    name: str
    pages: int = 1
    prot: str = "rw"
    file: str | None = None
    #: MAP_HUGETLB: each page of the region is one huge page (2048 kB)
    hugetlb: bool = False
    #: MADV_HUGEPAGE at once, the region aligned to a PMD: write faults on whole
    #: HPAGE_NR-page ranges map transparent huge pages
    thp: bool = False
    #: as ``thp``, but the enabled THP size is a sub-PMD one (multi-size THP, v6.8): a
    #: write fault maps a large folio of MTHP_NR pages by PTEs
    mthp: bool = False
    #: MAP_SHARED (a file only): stores reach the page cache, fork shares the pages
    shared: bool = False


@dataclass(frozen=True)
class Write:
    """A CPU store by the thread."""

    addr: str


@dataclass(frozen=True)
class Read:
    """A CPU load by the thread."""

    addr: str


@dataclass(frozen=True)
class Munmap:
    region: str
    #: pages ``first`` .. ``first + count - 1`` of the region (default: all of it);
    #: a VMA split keeps the region's name on every piece
    first: int = 0
    count: int | None = None


@dataclass(frozen=True)
class Mprotect:
    region: str
    prot: str
    #: pages ``first`` .. ``first + count - 1`` of the region (default: all of it);
    #: a VMA split keeps the region's name on every piece
    first: int = 0
    count: int | None = None


@dataclass(frozen=True)
class Madvise:
    region: str
    advice: str
    #: pages ``first`` .. ``first + count - 1`` of the region (default: all of it);
    #: a VMA split keeps the region's name on every piece
    first: int = 0
    count: int | None = None


@dataclass(frozen=True)
class Mremap:
    """mremap(MREMAP_MAYMOVE|MREMAP_FIXED) of pages ``first`` .. ``first + count - 1`` of
    ``region`` to a new place, which becomes region ``to``."""

    region: str
    to: str
    first: int = 0
    count: int | None = None


@dataclass(frozen=True)
class Fork:
    """fork(): the child process is named ``child``; its one thread ``thread``
    (default: the child's name)."""

    child: str
    thread: str | None = None


@dataclass(frozen=True)
class Exit:
    """The whole process exits (exit_mmap)."""


@dataclass(frozen=True)
class Pin:
    """A driver takes GUP references on ``addr`` for its device (pin_user_pages or
    get_user_pages with ``flags``); the references are named ``name``.  ``by:
    io_uring`` registers the page as an io_uring fixed buffer instead: io_uring picks
    the flags and the GUP path, and has its own checks."""

    addr: str
    name: str
    flags: tuple[str, ...] = ("FOLL_PIN", "FOLL_WRITE", "FOLL_LONGTERM")
    fast: bool = False
    by: str = "driver"
    #: the outcome the program expects, ``ok`` or ``refused`` (a selftest's own
    #: assertion, or a driver's: the promise call_result holds it to what the call returned)
    expect: str | None = None


@dataclass(frozen=True)
class ProcMemWrite:
    """write() to /proc/self/mem at ``addr``: a FOLL_FORCE|FOLL_WRITE GUP, then the
    kernel stores through the page it got (how ptrace and debuggers poke memory)."""

    addr: str


@dataclass(frozen=True)
class ProcMemRead:
    """read() of /proc/self/mem at ``addr``: a FOLL_FORCE GUP without FOLL_WRITE (which
    "touches" what it finds), then the kernel copies the data out."""

    addr: str


@dataclass(frozen=True)
class Unpin:
    name: str


@dataclass(frozen=True)
class Vmsplice:
    """vmsplice() of the page into a pipe named ``name``: a FOLL_GET reference."""

    addr: str
    name: str


@dataclass(frozen=True)
class PipeRead:
    """Read the pipe: what its page reference sees, then drop the reference."""

    name: str


@dataclass(frozen=True)
class NumaScan:
    """task_numa_work() run by this thread over its process's VMAs."""


@dataclass(frozen=True)
class ClearRefs:
    """echo 4 > /proc/self/clear_refs: clear the soft-dirty bits of the process."""

    what: str = "soft_dirty"


@dataclass(frozen=True)
class Resume:
    """Continue the actor's stopped kernel operation."""


@dataclass(frozen=True)
class DmaWrite:
    """The device writes through the named pin."""

    pin: str


@dataclass(frozen=True)
class DmaRead:
    """The device reads through the named pin."""

    pin: str


@dataclass(frozen=True)
class LruDrain:
    """lru_add_drain_all(): drain every CPU's LRU-add batch (or one node's)."""

    node: int | None = None


@dataclass(frozen=True)
class Move:
    """The scheduler moves a thread to another node (refused if bound elsewhere)."""

    thread: str
    node: int


@dataclass(frozen=True)
class Reclaim:
    """kswapd reclaims the page mapped at ``addr`` (``P:buf[0]``)."""

    addr: str


Action = (
    Mmap
    | Write
    | Read
    | Munmap
    | Mprotect
    | Madvise
    | Mremap
    | Fork
    | Exit
    | Pin
    | ProcMemWrite
    | ProcMemRead
    | Unpin
    | Vmsplice
    | PipeRead
    | NumaScan
    | ClearRefs
    | Resume
    | DmaWrite
    | DmaRead
    | LruDrain
    | Move
    | Reclaim
)

#: YAML action keyword -> class; the keyword's value fills the first field.
ACTIONS: dict[str, type] = {
    "mmap": Mmap,
    "write": Write,
    "read": Read,
    "munmap": Munmap,
    "mprotect": Mprotect,
    "madvise": Madvise,
    "mremap": Mremap,
    "fork": Fork,
    "exit": Exit,
    "pin": Pin,
    "proc_mem_write": ProcMemWrite,
    "proc_mem_read": ProcMemRead,
    "unpin": Unpin,
    "vmsplice": Vmsplice,
    "pipe_read": PipeRead,
    "numa_scan": NumaScan,
    "clear_refs": ClearRefs,
    "resume": Resume,
    "dma_write": DmaWrite,
    "dma_read": DmaRead,
    "lru_drain": LruDrain,
    "move": Move,
    "reclaim": Reclaim,
}
ACTION_NAMES: dict[type, str] = {cls: name for name, cls in ACTIONS.items()}

#: who may perform each action: a process thread, the device, the kernel, kswapd
THREAD_ACTIONS = frozenset(
    {
        Mmap,
        Write,
        Read,
        Munmap,
        Mprotect,
        Madvise,
        Mremap,
        Fork,
        Exit,
        Pin,
        Unpin,
        Vmsplice,
        PipeRead,
        NumaScan,
        Resume,
        ProcMemWrite,
        ProcMemRead,
        ClearRefs,
    }
)
DEVICE_ACTIONS = frozenset({DmaWrite, DmaRead})
KERNEL_ACTIONS = frozenset({LruDrain, Move})
KSWAPD_ACTIONS = frozenset({Reclaim, Resume})
