"""The layout of the compact machine state: where each field lives in one flat vector
of 32-bit integers, computed from a configuration's bounds.

SPIN keeps each state as a short fixed vector and TLC fingerprints them; cowlab does
the same so that the checker can copy a state with one memcpy, fingerprint it in one
pass, and run the same kernel code compiled (docs/design-notes/compact-state.md).
Every area is an array of fixed-size records; the record fields are the named
constants below, and only the accessors in ``cowlab.model.flat`` combine them with
offsets.  A state that would need more room than its bounds stops with
``LayoutOverflowError`` naming the bound to raise.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass

from cowlab.model.page import HPAGE_NR, NO_CPU, NO_HEAD, NO_SLOT
from cowlab.model.swap import NO_PFN

# --- header -----------------------------------------------------------------------------
H_NEXT_TOKEN = 0
H_NODES = 1
H_NUMA_BALANCING = 2
H_NPROCESSES = 3
H_NTHREADS = 4
H_NFILES = 5
HEADER_WORDS = 6

# --- struct page (one record per pfn) ---------------------------------------------------
PG_FLAGS = 0
PG_REFCOUNT = 1
PG_MAPCOUNT = 2
#: FOLL_PIN pins (large folios count them here; small pages only for the sanity check)
PG_PINCOUNT = 3
PG_COMPOUND_MAPCOUNT = 4
PG_NODE = 5
#: the content token (model only)
PG_CONTENT = 6
#: page_private(): the swap slot of a swap-cache page, else NO_SLOT
PG_PRIVATE = 7
#: the CPU whose LRU-add batch holds the page, else NO_CPU
PG_LRU_BATCH = 8
#: compound_head(): the THP head pfn, else NO_HEAD
PG_HEAD = 9
PAGE_WORDS = 10

# page flag bits (PG_FLAGS); the kernel's names where it has one
PF_IN_USE = 1 << 0  # allocated (a free pfn has no flags)
PF_ANON = 1 << 1  # PageAnon
PF_ANON_EXCLUSIVE = 1 << 2  # PG_anon_exclusive (6c287605fd56)
PF_LRU = 1 << 3  # PG_lru
PF_ISOLATED = 1 << 4  # isolated from the LRU by migration or reclaim
PF_LOCKED = 1 << 5  # PG_locked
PF_HUGETLB = 1 << 6  # a hugetlb page
PF_HUGE_ZERO = 1 << 7  # the huge zero page

# --- struct mm_struct and its VMAs and page table (one record per process) -----------
P_FLAGS = 0
P_NAME = 1
P_PARENT = 2
#: mm->write_protect_seq (57efa1fe5957)
P_WRITE_PROTECT_SEQ = 3
P_NVMAS = 4
PROC_FIXED_WORDS = 5

MMF_ALIVE = 1 << 0
#: mm->has_pinned (008cfe4418b3)
MMF_HAS_PINNED = 1 << 1

V_START = 0
V_NPAGES = 1
V_FLAGS = 2
V_NAME = 3
#: the mapped file's symbol, 0 for anonymous memory
V_FILE = 4
V_PGOFF = 5
V_BASE = 6
VMA_WORDS = 7

# --- tasks and their continuation frames -----------------------------------------------
T_NAME = 0
T_PID = 1
T_NODE = 2
T_AFFINITY = 3
T_DEPTH = 4
THREAD_FIXED_WORDS = 5

F_STAGE = 0
F_RESULT = 1
F_LOCALS_KIND = 2
F_NHOLDS = 3
FRAME_FIXED_WORDS = 4

# --- swap slots, GUP references, files ---------------------------------------------------
S_COUNT = 0
S_CACHE = 1
S_CONTENT = 2
S_IN_USE = 3
SLOT_WORDS = 4

#: the words of a free pfn and of a free swap slot: zero but for the "none" markers
#: (no swap slot, no LRU batch, no THP head; no cache page).  Every place that frees a
#: record or lays out an empty machine writes these.
FREE_PAGE: array[int] = array("i", [0] * PAGE_WORDS)
FREE_PAGE[PG_PRIVATE], FREE_PAGE[PG_LRU_BATCH], FREE_PAGE[PG_HEAD] = NO_SLOT, NO_CPU, NO_HEAD
FREE_SLOT: array[int] = array("i", [0] * SLOT_WORDS)
FREE_SLOT[S_CACHE] = NO_PFN

R_NAME = 0
R_KIND = 1
R_HOLDER = 2
R_PID = 3
R_VPN = 4
R_PFN = 5
R_WRITE = 6
R_LONGTERM = 7
R_REFS = 8
REF_WORDS = 9

FILE_NAME = 0
FILE_NPAGES = 1
#: the filesystem the file lives on (its name as a symbol: tmpfs, ext4, ...)
FILE_FS = 2
FILE_FIXED_WORDS = 3


class LayoutOverflowError(ValueError):
    """A state needs more room than the configuration's bounds give it."""

    def __init__(self, bound: str, value: int, what: str = "") -> None:
        self.bound = bound
        self.value = value
        detail = f" ({what})" if what else ""
        super().__init__(
            f"the state needs more than bounds.{bound} = {value}{detail}: "
            f"raise bounds.{bound} in the configuration"
        )


@dataclass(frozen=True)
class Bounds:
    """How much of each thing a configuration's states may hold."""

    processes: int = 2
    threads: int = 3
    #: pfns, the shared zero page (pfn 0) included
    pages: int = 16
    #: page-table slots per process, from ``vpn_base``
    vpns: int = 32
    vpn_base: int = 0x100
    vmas: int = 4
    #: continuation depth per thread
    frames: int = 4
    #: page references one frame may hold
    holds: int = 2
    #: integer locals per frame
    locals: int = 8
    slots: int = 4
    refs: int = 2
    files: int = 1
    file_pages: int = 2

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if name != "vpn_base" and value < 0:
                raise ValueError(f"bounds.{name} must not be negative: {value}")
        if self.vpns % HPAGE_NR:
            raise ValueError(f"bounds.vpns must be a multiple of {HPAGE_NR} (PMD ranges)")


class Symbols:
    """Names in the state (regions, files, references, holders, stages, results, frame
    schemas) as integers; 0 is the empty name.

    A name's number is a hash of the name, not the order in which names were first
    seen, so that the same state has the same vector in every process (parallel
    workers, a run resumed from a checkpoint) without any coordination.  Two names with
    one number would make states indistinguishable, so that is an error (about one
    chance in 10^7 for a hundred names)."""

    __slots__ = ("_ids", "_names", "encoded")

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self._names: dict[int, str] = {0: ""}
        self._ids: dict[str, int] = {"": 0}
        #: frame locals already encoded with these names (cowlab.model.state.convert)
        self.encoded: dict[tuple[type, object], tuple[int, tuple[int, ...]]] = {}
        for name in names:
            self.intern(name)

    def __getstate__(self) -> tuple[dict[int, str], dict[str, int]]:
        return self._names, self._ids  # not the memo: it is rebuilt on use

    def __setstate__(self, state: tuple[dict[int, str], dict[str, int]]) -> None:
        self._names, self._ids = state
        self.encoded = {}

    def intern(self, name: str) -> int:
        sym = self._ids.get(name)
        if sym is None:
            digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
            sym = int.from_bytes(digest, "little") & 0x7FFFFFFF or 1
            other = self._names.get(sym)
            if other is not None:
                raise ValueError(f"names {other!r} and {name!r} share symbol {sym}: rename one")
            self._ids[name] = sym
            self._names[sym] = name
        return sym

    def name(self, sym: int) -> str:
        return self._names[sym]

    def learn(self, other: Symbols) -> None:
        """Intern the names ``other`` has and this table lacks: a state made in another
        process may carry names this one has not met yet (numbers agree, being hashes)."""
        for name in other._ids:
            if name not in self._ids:
                self.intern(name)

    def names(self) -> tuple[str, ...]:
        """Every name interned so far (``Symbols(names)`` numbers them the same again)."""
        return tuple(name for name in self._names.values() if name)

    def __len__(self) -> int:
        return len(self._names)


class Layout:
    """Offsets of each area in the vector, from the bounds.

    A plain class rather than a frozen dataclass: compiled, it is a C struct of ints
    (layout.pxd), so that an accessor's offset arithmetic never touches Python objects.
    Two layouts are equal when their bounds are."""

    def __init__(self, bounds: Bounds, symbols: Symbols | None = None) -> None:
        b = bounds
        self.bounds = b
        self.symbols = symbols if symbols is not None else Symbols()
        # the bounds the record bases check, as plain ints
        self.nr_pages, self.nr_processes, self.nr_vmas = b.pages, b.processes, b.vmas
        self.nr_vpns, self.vpn_base, self.nr_threads = b.vpns, b.vpn_base, b.threads
        self.nr_frames, self.nr_holds, self.nr_locals = b.frames, b.holds, b.locals
        self.nr_slots, self.nr_refs, self.nr_files = b.slots, b.refs, b.files
        at = HEADER_WORDS
        self.pages = at
        at += b.pages * PAGE_WORDS
        #: offset of the VMA records and of the page table inside a process record
        self.proc_vmas = PROC_FIXED_WORDS
        self.proc_ptes = PROC_FIXED_WORDS + b.vmas * VMA_WORDS
        #: offset of the PMD-range bitmap (ranges that hold a PTE table) in a process record
        self.proc_pte_tables = self.proc_ptes + b.vpns
        pmd_ranges = b.vpns // HPAGE_NR
        self.proc_words = self.proc_pte_tables + (pmd_ranges + 31) // 32
        self.processes = at
        at += b.processes * self.proc_words
        self.frame_words = FRAME_FIXED_WORDS + b.holds + b.locals
        self.thread_words = THREAD_FIXED_WORDS + b.frames * self.frame_words
        self.threads = at
        at += b.threads * self.thread_words
        self.swap = at
        at += b.slots * SLOT_WORDS
        self.refs = at
        at += b.refs * REF_WORDS
        self.file_words = FILE_FIXED_WORDS + 2 * b.file_pages
        self.files = at
        at += b.files * self.file_words
        self.size = at

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self.bounds == other.bounds

    def __hash__(self) -> int:
        return hash(self.bounds)

    def __repr__(self) -> str:
        return f"Layout({self.bounds!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (Layout, (self.bounds, self.symbols))

    # record bases: the only place offsets are combined
    def page(self, pfn: int) -> int:
        if not 0 <= pfn < self.nr_pages:
            raise LayoutOverflowError("pages", self.nr_pages, f"pfn {pfn}")
        return self.pages + pfn * PAGE_WORDS

    def process(self, pid: int) -> int:
        if not 0 <= pid < self.nr_processes:
            raise LayoutOverflowError("processes", self.nr_processes, f"pid {pid}")
        return self.processes + pid * self.proc_words

    def vma(self, pid: int, slot: int) -> int:
        if not 0 <= slot < self.nr_vmas:
            raise LayoutOverflowError("vmas", self.nr_vmas, f"VMA {slot} of pid {pid}")
        return self.process(pid) + self.proc_vmas + slot * VMA_WORDS

    def pte(self, pid: int, vpn: int) -> int:
        index = vpn - self.vpn_base
        if not 0 <= index < self.nr_vpns:
            raise LayoutOverflowError("vpns", self.nr_vpns, f"vpn {vpn:#x} of pid {pid}")
        return self.process(pid) + self.proc_ptes + index

    def thread(self, ti: int) -> int:
        if not 0 <= ti < self.nr_threads:
            raise LayoutOverflowError("threads", self.nr_threads, f"thread {ti}")
        return self.threads + ti * self.thread_words

    def frame(self, ti: int, depth: int) -> int:
        if not 0 <= depth < self.nr_frames:
            raise LayoutOverflowError("frames", self.nr_frames, f"depth {depth + 1}")
        return self.thread(ti) + THREAD_FIXED_WORDS + depth * self.frame_words

    def slot(self, slot: int) -> int:
        if not 0 <= slot < self.nr_slots:
            raise LayoutOverflowError("slots", self.nr_slots, f"swap slot {slot}")
        return self.swap + slot * SLOT_WORDS

    def ref(self, index: int) -> int:
        if not 0 <= index < self.nr_refs:
            raise LayoutOverflowError("refs", self.nr_refs, f"reference {index + 1}")
        return self.refs + index * REF_WORDS

    def file(self, index: int) -> int:
        if not 0 <= index < self.nr_files:
            raise LayoutOverflowError("files", self.nr_files, f"file {index + 1}")
        return self.files + index * self.file_words
