"""What a step reports: the kernel's decisions and what user space observed.

The kernel paths emit these; the engines print them and the promise checkers
(``cowlab.invariants``) read the observations.  They are plain records, so
they live here, below both.
"""

from __future__ import annotations

from typing import NamedTuple


class Decision(NamedTuple):
    """A choice a kernel function made, with the rule and commit behind it
    (``cite`` empty when the choice is the same on every modeled version)."""

    fn: str
    text: str
    rule: str = ""
    cite: str = ""

    def __str__(self) -> str:
        return f"{self.fn}: {self.text}" + (f" ({self.cite})" if self.cite else "")


class Note(NamedTuple):
    """A state change worth showing, made by a kernel function."""

    fn: str
    text: str

    def __str__(self) -> str:
        return f"{self.fn}: {self.text}"


class Load(NamedTuple):
    """A CPU load by process ``pid`` at ``vpn`` returned ``token``.  ``exact`` is False
    for a kernel copy-out (read() of /proc/self/mem) that may race a store after its
    GUP: it must not leak, but may return the value from before that store."""

    pid: int
    vpn: int
    token: int
    exact: bool = True


class Store(NamedTuple):
    """A CPU store by process ``pid`` at ``vpn`` wrote ``token`` into page ``pfn``."""

    pid: int
    vpn: int
    token: int
    pfn: int


class RefTaken(NamedTuple):
    """GUP gave reference ``name`` (a device pin or a pipe's page) on ``pfn``."""

    name: str
    pid: int
    vpn: int
    pfn: int
    write: bool
    kind: str
    holder: str


class RefDropped(NamedTuple):
    name: str


class DeviceLoad(NamedTuple):
    """The device read ``token`` through reference ``name`` (or a pipe was read)."""

    name: str
    token: int


class DeviceStore(NamedTuple):
    """The device wrote ``token`` through pin ``name``."""

    name: str
    token: int


class Forked(NamedTuple):
    """fork(): ``copied`` vpns were duplicated into the child, ``wiped`` vpns the
    child sees as zero (VM_WIPEONFORK)."""

    parent: int
    child: int
    copied: tuple[int, ...]
    wiped: tuple[int, ...]


class Zapped(NamedTuple):
    """The user dropped these mappings (munmap, MADV_DONTNEED, exit): what the
    process sees there afterwards is new memory (``fresh``: zero, or the file's data
    for a private file mapping), and pins there are detached."""

    pid: int
    vpns: tuple[int, ...]
    unmapped: bool
    fresh: tuple[int, ...] = ()
    #: a file mapping: the file's index, the file page of the first vpn, MAP_SHARED
    file: int = -1
    pgoff: int = 0
    shared: bool = False


class Mapped(NamedTuple):
    """mmap() created these vpns; they read as ``fresh`` (zero, or the file's data).
    A MAP_SHARED file mapping aliases the file's pages: a store there is the file's
    new data, which every mapping of the page sees."""

    pid: int
    vpns: tuple[int, ...]
    fresh: tuple[int, ...] = ()
    #: a file mapping: the file's index, the file page of the first vpn, MAP_SHARED
    file: int = -1
    pgoff: int = 0
    shared: bool = False


class Moved(NamedTuple):
    """mremap() moved these mappings: (old vpn, new vpn) pairs of one process; what
    was at the old address is now at the new one, pins included."""

    pid: int
    moves: tuple[tuple[int, int], ...]


class Hung(NamedTuple):
    """A thread running alone came back to a state it had already been in, inside one
    operation: the kernel loops forever (a livelock the user sees as a hang)."""

    thread: str
    stage: str


class CallReturned(NamedTuple):
    """``call`` by process ``pid`` for ``name`` returned ``result`` ("done" or an error
    such as "eopnotsupp"); ``expect`` is the outcome the program declared it expects
    ("ok" or "refused"; "" when it declared none)."""

    pid: int
    call: str
    name: str
    result: str
    expect: str = ""


Event = (
    Decision
    | Note
    | Load
    | Store
    | RefTaken
    | RefDropped
    | DeviceLoad
    | DeviceStore
    | Forked
    | Zapped
    | Mapped
    | Moved
    | Hung
    | CallReturned
)
