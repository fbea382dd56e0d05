"""The walk over a scenario's steps: who runs each step, what each process should
see, the checks made and the steps refused.  The actions themselves are in
``translate``; this module holds the bookkeeping they share."""

from __future__ import annotations

from cowlab.oracle.program import Check, Op, ThreadInfo
from cowlab.oracle.state import Key, PinRef, PipeRef, Proc, Region, Tokens
from cowlab.scenario.spec import Scenario
from cowlab.scenario.validate import ADDR_RE

PROTS = {"rw": "PROT_READ | PROT_WRITE", "r": "PROT_READ", "none": "PROT_NONE"}


class Refuse(Exception):
    """This step has no userspace equivalent (the message says why)."""


class Walk:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.multi_node = scenario.machine.nodes >= 2
        self.tokens = Tokens()
        self.procs: dict[str, Proc] = {}
        self.thread_proc: dict[str, str] = {}
        self.threads: dict[str, ThreadInfo] = {}
        self.region_index: dict[str, int] = {}
        self.pins: dict[str, PinRef] = {}
        self.pin_index: dict[str, int] = {}
        self.pipes: dict[str, PipeRef] = {}
        self.file_tokens: dict[str, tuple[int, ...]] = {}
        #: what each file page holds now (stores through MAP_SHARED mappings change it)
        self.file_data: dict[str, list[int]] = {}
        self.ops: list[Op] = []
        self.checks: list[Check] = []
        self.known: dict[int, tuple[int, ...]] = {}
        self.approximations: list[str] = []
        self.nodes: set[int] = set()
        self.needs_swap = False
        self.needs_uring = False
        #: io_uring registrations the scenario asks for by name (by: io_uring)
        self.uring_calls: set[str] = set()
        #: pins io_uring can take too (R/W long-term FOLL_PIN)
        self.uring_pins: set[str] = set()
        self.numa_scans = 0
        self.huge_pages = 0
        self.forks = 0
        #: THP kinds of the regions ("thp", "mthp")
        self.thp_sizes: set[str] = set()
        #: C comment lines the next emitted op starts with
        self.comment: list[str] = []
        for f in scenario.files:
            self.file_tokens[f.name] = tuple(
                self.tokens.new(f"data of file {f.name} page {p}", None) for p in range(f.pages)
            )
            self.file_data[f.name] = list(self.file_tokens[f.name])
        #: thread -> the node its affinity binds it to (a fork's thread inherits it)
        self.affinity: dict[str, int | None] = {}
        for i, spec in enumerate(scenario.processes):
            self.procs[spec.name] = Proc(spec.name, i, [t.name for t in spec.threads], first=i == 0)
            for t in spec.threads:
                self.affinity[t.name] = t.affinity
                node = (t.affinity if t.affinity is not None else t.node) if self.multi_node else None
                if node is not None:
                    self.nodes.add(node)
                self.add_thread(t.name, i, node, initial=True)

    # ---- processes and threads ----

    def add_thread(self, name: str, process: int, node: int | None, *, initial: bool) -> None:
        self.threads[name] = ThreadInfo(name, len(self.threads), process, node, initial)
        self.thread_proc[name] = next(p for p in self.procs if self.procs[p].index == process)

    def actor_proc(self, thread: str) -> Proc:
        proc = self.procs[self.thread_proc[thread]]
        if not proc.alive:
            raise Refuse(f"process {proc.name} has exited")
        return proc

    def live_thread(self, prefer: str | None = None) -> str:
        """Someone to run a step no thread asks for: ``prefer``, the previous step's
        thread, or the first thread still alive."""
        for t in (prefer, self.ops[-1].thread if self.ops else None):
            if t is not None and self.procs[self.thread_proc[t]].alive:
                return t
        for name, proc in self.thread_proc.items():
            if self.procs[proc].alive:
                return name
        raise Refuse("no process is left to run it")

    # ---- emitting ----

    def emit(
        self, thread: str, label: str, body: list[str], *, fork_thread: str | None = None, exits: bool = False
    ) -> Op:
        op = Op(label, thread, [*self.comment, *body], fork_thread, exits)
        self.comment = []
        self.ops.append(op)
        return op

    def check(self, promise: str, desc: str, what: str, known: set[int] | None = None) -> int:
        number = len(self.checks) + 1
        self.checks.append(Check(number, promise, desc, what))
        if known is not None:
            self.known[number] = tuple(sorted(known | self.tokens.public))
        return number

    def note(self, text: str) -> None:
        if text not in self.approximations:
            self.approximations.append(text)

    def tdesc(self, token: int) -> str:
        return "zero" if token == 0 else f"token {token} ({self.tokens.descs[token]})"

    # ---- addresses and regions ----

    def addr(self, proc: Proc, addr: str, access: str | None = None) -> tuple[Key, Region, str]:
        """(key, region, C address) of ``region[i]`` in ``proc``; refuses an access
        that would fault with SIGSEGV (``access``: read or write)."""
        m = ADDR_RE.fullmatch(addr)
        if m is None:
            raise Refuse(f"bad address {addr!r}")
        name, page = m["region"], int(m["index"] or 0)
        region = proc.regions.get(name)
        if region is None:
            raise Refuse(f"{proc.name} has no region {name} mapped: the access would fault (SIGSEGV)")
        if page >= region.pages:
            raise Refuse(f"page {page} is outside region {name} ({region.pages} pages)")
        if not region.mapped[page]:
            raise Refuse(
                f"page {page} of region {name} is no longer mapped: the access would fault (SIGSEGV)"
            )
        prot = region.prot_at(page)
        if access == "write" and prot != "rw":
            raise Refuse(f"region {name} is mapped {prot}: the store would fault (SIGSEGV)")
        if access == "read" and prot == "none":
            raise Refuse(f"region {name} is mapped none: the access would fault (SIGSEGV)")
        return (name, page), region, region.at(page)

    def region(self, proc: Proc, name: str) -> Region:
        region = proc.regions.get(name)
        if region is None:
            raise Refuse(f"{proc.name} has no region {name} mapped")
        return region

    def fresh(self, proc: Proc, name: str, pages: range | None = None) -> None:
        """The region's pages (or some of them) read as new: zero, or the file's data;
        their THP units are populated again by the next fault."""
        region = proc.regions[name]
        pages = pages if pages is not None else range(region.pages)
        for page in pages:
            proc.expected.pop((name, page), None)
        for unit in {region.unit_of(p) for p in pages} - {None}:
            assert unit is not None
            if all(p in pages for p in range(region.pages) if region.unit_of(p) == unit):
                region.touched.discard(unit)

    def expect_at(self, proc: Proc, key: Key) -> int:
        """The token a load at ``key`` must return: the process's own (anon) data,
        else the file page's data now (a shared mapping, or a private page never
        copied), else zero."""
        if key in proc.expected:
            return proc.expected[key]
        region = proc.regions.get(key[0])
        if region is not None and region.file:
            return self.file_data[region.file][region.file_pages[key[1]]]
        return 0

    def store(self, proc: Proc, key: Key, token: int) -> None:
        """A store at ``key``: into the file through a MAP_SHARED mapping (every mapper
        may see it), else into the process's own page (a private file page is copied)."""
        region = proc.regions[key[0]]
        if region.shared and region.file:
            self.file_data[region.file][region.file_pages[key[1]]] = token
            self.tokens.public.add(token)
        else:
            proc.expected[key] = token

    def detach(self, proc: Proc, name: str, pages: range | None = None) -> None:
        """munmap, MADV_DONTNEED and exit leave the pins on the region (or on those of
        its pages) detached."""
        for pin in self.pins.values():
            if pin.proc == proc.name and pin.region == name and (pages is None or pin.page in pages):
                pin.attached = False

    def referenced(self, proc: Proc, key: Key) -> bool:
        """A pin or a pipe of ``proc`` holds the page at ``key``."""
        return any(
            p.held and p.proc == proc.name and (p.region, p.page) == key for p in self.pins.values()
        ) or any(p.owner == proc.name and p.key == key for p in self.pipes.values())
