"""What each process should see, worked out at export time.

The same bookkeeping as the model's promises (cowlab.invariants.spec): the last
token written at each address, the tokens each process may see, which pins are
still attached to their address.  It depends only on the steps, never on a
kernel's decisions, so the C program carries it as constants.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field, replace

from cowlab.model import HPAGE_NR, MTHP_NR

Key = tuple[str, int]  # (region, page)


#: base pages of one transparent huge page on x86-64: the PMD THP (2048 kB), and the
#: multi-size THP size the exporter enables for ``mthp`` (16 kB, the smallest anon mTHP
#: order: the kernel has no 8 kB anon folio, and the model's rules depend on "a large
#: folio mapped by PTEs", not on its order)
THP_UNIT_PAGES = {"thp": 512, "mthp": 4}
#: the model's subpages of each (cowlab.model: HPAGE_NR, MTHP_NR)
MODEL_UNIT_PAGES = {"thp": HPAGE_NR, "mthp": MTHP_NR}


def thp_layout(pages: int, kind: str) -> tuple[int, ...]:
    """Base-page offsets of a THP region's model pages, then its end.

    The model's THP has few subpages; the kernel's has 512 (4 for the 16 kB mTHP).
    Model subpage 0 is the real first subpage alone and subpage i >= 1 starts at i/N
    of the huge page, so that the selftests' ranges keep their meaning: "subpage 1"
    (mprotect of one PTE), "all but the first" (MADV_DONTNEED / MADV_DONTFORK of
    ``first: 1``), "the upper half" (mremap of ``first: 2, count: 2``).  The pages of
    a last, partial unit are small pages, as in the model (no THP fits there)."""
    unit, n = THP_UNIT_PAGES[kind], MODEL_UNIT_PAGES[kind]
    whole = pages // n
    offsets = []
    for page in range(pages):
        k, i = divmod(page, n)
        if k < whole:
            offsets.append(k * unit + (i if i < 2 else unit * i // n))
        else:
            offsets.append(whole * unit + i)
    return (*offsets, whole * unit + pages - whole * n)


@dataclass
class Region:
    """One region of one process: its model pages, where each is in the real mapping
    (``offsets``: in base pages, or in huge pages for hugetlb), and the state of each
    page that partial operations change (protection, mapped, DONTFORK, WIPEONFORK)."""

    index: int
    pages: int
    prot: InitVar[str]
    file: str | None = None
    huge: bool = False
    #: "thp" or "mthp": MADV_HUGEPAGE on an aligned range (None: small pages)
    thp: str | None = None
    #: MAP_SHARED (of a file)
    shared: bool = False
    offsets: tuple[int, ...] = ()
    #: the file page each model page maps
    file_pages: tuple[int, ...] = ()
    prots: list[str] = field(default_factory=list)
    mapped: list[bool] = field(default_factory=list)
    dontfork: set[int] = field(default_factory=set)
    wipeonfork: set[int] = field(default_factory=set)
    #: THP units a fault has populated since they were mapped
    touched: set[int] = field(default_factory=set)

    def __post_init__(self, prot: str) -> None:
        if not self.offsets:
            self.offsets = thp_layout(self.pages, self.thp) if self.thp else tuple(range(self.pages + 1))
        self.file_pages = self.file_pages or tuple(range(self.pages))
        self.prots = self.prots or [prot] * self.pages
        self.mapped = self.mapped or [True] * self.pages

    def prot_at(self, page: int) -> str:
        return self.prots[page]

    @property
    def unit(self) -> str:
        return "HPAGE_SIZE" if self.huge else "page_size"

    @property
    def size(self) -> str:
        """The region's length as a C expression."""
        return self.span(0, self.pages)[1]

    def at(self, page: int) -> str:
        """The address of one of its pages as a C expression."""
        return f"ADDR{'_HUGE' if self.huge else ''}({self.index}, {self.offsets[page]})"

    def span(self, first: int, count: int) -> tuple[str, str]:
        """(address, length) of pages first .. first + count - 1 as C expressions."""
        return self.at(first), f"{self.offsets[first + count] - self.offsets[first]} * {self.unit}"

    def runs(self, first: int = 0, count: int | None = None) -> list[tuple[int, int]]:
        """The mapped stretches (first, count) of a page range: one system call each."""
        out: list[tuple[int, int]] = []
        end = self.pages if count is None else first + count
        for page in range(first, end):
            if not self.mapped[page]:
                continue
            if out and out[-1][0] + out[-1][1] == page:
                out[-1] = (out[-1][0], out[-1][1] + 1)
            else:
                out.append((page, 1))
        return out

    def unit_of(self, page: int) -> int | None:
        """The THP unit a page belongs to (None: a small page, or no THP region)."""
        if self.thp is None:
            return None
        n = MODEL_UNIT_PAGES[self.thp]
        return page // n if page < self.pages - self.pages % n else None

    def unit_span(self, unit: int) -> tuple[str, int]:
        """(address of the unit's first subpage, its base pages)."""
        assert self.thp is not None
        return self.at(unit * MODEL_UNIT_PAGES[self.thp]), THP_UNIT_PAGES[self.thp]

    def moved(self, index: int, first: int, count: int) -> Region:
        """The region mremap makes of pages first .. first + count - 1: their layout,
        file pages and protections; no longer an aligned THP range (no population check)."""
        base = self.offsets[first]
        return Region(
            index,
            count,
            self.prots[first],
            self.file,
            self.huge,
            None,
            self.shared,
            tuple(o - base for o in self.offsets[first : first + count + 1]),
            self.file_pages[first : first + count],
            self.prots[first : first + count],
            self.mapped[first : first + count],
            {p - first for p in self.dontfork if first <= p < first + count},
            {p - first for p in self.wipeonfork if first <= p < first + count},
        )

    def forked(self) -> Region | None:
        """The child's copy at fork: without the DONTFORK pages (None if nothing is left)."""
        mapped = [m and p not in self.dontfork for p, m in enumerate(self.mapped)]
        if not any(mapped):
            return None
        return replace(
            self,
            prot=self.prots[0],
            prots=list(self.prots),
            mapped=mapped,
            dontfork=set(),
            wipeonfork=set(self.wipeonfork),
            touched=set(self.touched),
        )


@dataclass
class Proc:
    name: str
    index: int
    threads: list[str]
    #: the program itself (the first process): its exit is emulated
    first: bool = False
    alive: bool = True
    regions: dict[str, Region] = field(default_factory=dict)
    expected: dict[Key, int] = field(default_factory=dict)
    known: set[int] = field(default_factory=set)
    #: pipes whose file descriptors it holds
    pipes: set[str] = field(default_factory=set)

    def forked(self, name: str, index: int, thread: str) -> Proc:
        """The child of fork(): mappings without DONTFORK pages; WIPEONFORK ones read zero."""
        child = Proc(name, index, [thread], known=set(self.known), pipes=set(self.pipes))
        for rname, region in self.regions.items():
            copy = region.forked()
            if copy is None:
                continue
            child.regions[rname] = copy
            for page in range(region.pages):
                token = self.expected.get((rname, page), 0)
                if token and copy.mapped[page] and page not in region.wipeonfork:
                    child.expected[(rname, page)] = token
        return child


@dataclass
class PinRef:
    name: str
    index: int
    proc: str
    thread: str
    region: str
    page: int
    write: bool
    attached: bool = True
    held: bool = True
    #: (file, page) when the pin holds a page of a MAP_SHARED file mapping: the
    #: device's writes reach the file even after the mapping is gone
    file_page: tuple[str, int] | None = None


@dataclass
class PipeRef:
    name: str
    index: int
    #: the process whose page reference the pipe holds (None: empty)
    owner: str | None = None
    key: Key | None = None


@dataclass
class Tokens:
    """Every token of the run, with who wrote it (for the diagnostics)."""

    descs: list[str] = field(default_factory=lambda: ["zero"])
    writer: dict[int, str] = field(default_factory=dict)
    public: set[int] = field(default_factory=set)

    def new(self, desc: str, writer: str | None) -> int:
        self.descs.append(desc)
        token = len(self.descs) - 1
        if writer is None:
            self.public.add(token)
        else:
            self.writer[token] = writer
        return token
