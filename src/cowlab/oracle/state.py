"""What each process should see, worked out at export time.

The same bookkeeping as the model's promises (cowlab.invariants.spec): the last
token written at each address, the tokens each process may see, which pins are
still attached to their address.  It depends only on the steps, never on a
kernel's decisions, so the C program carries it as constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

Key = tuple[str, int]  # (region, page)


@dataclass
class Region:
    index: int
    pages: int
    prot: str
    file: str | None = None
    huge: bool = False
    dontfork: bool = False
    wipeonfork: bool = False

    @property
    def size(self) -> str:
        """The region's length as a C expression."""
        return f"{self.pages} * {'HPAGE_SIZE' if self.huge else 'page_size'}"

    def at(self, page: int) -> str:
        """The address of one of its pages as a C expression."""
        return f"ADDR{'_HUGE' if self.huge else ''}({self.index}, {page})"


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
        """The child of fork(): mappings without DONTFORK; WIPEONFORK ones read zero."""
        child = Proc(name, index, [thread], known=set(self.known), pipes=set(self.pipes))
        for rname, region in self.regions.items():
            if region.dontfork:
                continue
            child.regions[rname] = replace(region)
            if region.wipeonfork:
                continue
            for page in range(region.pages):
                token = self.expected.get((rname, page), 0)
                if token:
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
