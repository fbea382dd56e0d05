"""Each scenario action as C statements for the thread that runs it (see
docs/oracle.md for the mapping and what is approximate or refused)."""

from __future__ import annotations

from dataclasses import fields
from typing import NamedTuple

from cowlab.kernel.gup import gup_entry_stage
from cowlab.model.swap import HUGETLBFS, fs_has_writeback
from cowlab.oracle import stops
from cowlab.oracle.program import ExportError, FileInfo, Op, Program, Stop
from cowlab.oracle.render import cstr
from cowlab.oracle.state import Key, PinRef, PipeRef, Proc, Region
from cowlab.oracle.walk import PROTS, Refuse, Walk
from cowlab.scenario.actions import (
    ACTION_NAMES,
    GUP_FLAG_NAMES,
    ClearRefs,
    DmaRead,
    DmaWrite,
    Exit,
    Fork,
    LruDrain,
    Madvise,
    Mmap,
    Move,
    Mprotect,
    Mremap,
    Munmap,
    NumaScan,
    Pin,
    PipeRead,
    ProcMemRead,
    ProcMemWrite,
    Read,
    Reclaim,
    Resume,
    Unpin,
    Vmsplice,
    Write,
)
from cowlab.scenario.spec import DEVICE, KERNEL, KSWAPD, Scenario, Step
from cowlab.scenario.validate import PROC_ADDR_RE

#: a stop inside these cannot be approximated: the interleaving is the scenario
REFUSED_STAGES = ("migrate.", "do_numa_page.")
#: the thread of an instrumented program that waits for held threads and releases them
CONTROLLER = "(stops)"
#: the stages a kernel built with the stops can hold a thread at (on some branch; the
#: program SKIPs on a kernel without one it needs)
HOLDABLE = frozenset(s.stage for s in stops.STOPS if s.points)
ADVICE = {
    "dontneed": "MADV_DONTNEED",
    "dontfork": "MADV_DONTFORK",
    "dofork": "MADV_DOFORK",
    "wipeonfork": "MADV_WIPEONFORK",
    "keeponfork": "MADV_KEEPONFORK",
    "hugepage": "MADV_HUGEPAGE",
    "nohugepage": "MADV_NOHUGEPAGE",
    "collapse": "MADV_COLLAPSE",
}
#: the action fields the exporter understands: another field set away from its default
#: (an option added to the scenario format later) is refused, not silently dropped
HANDLED_FIELDS: dict[type, frozenset[str]] = {
    cls: frozenset(names)
    for cls, names in {
        Mmap: ("name", "pages", "prot", "file", "hugetlb", "thp", "mthp", "shared"),
        Write: ("addr",),
        Read: ("addr",),
        Munmap: ("region", "first", "count"),
        Mprotect: ("region", "prot", "first", "count"),
        Madvise: ("region", "advice", "first", "count"),
        Mremap: ("region", "to", "first", "count"),
        Fork: ("child", "thread"),
        Exit: (),
        Pin: ("addr", "name", "flags", "fast", "by", "expect"),
        ProcMemWrite: ("addr",),
        ProcMemRead: ("addr",),
        Unpin: ("name",),
        Vmsplice: ("addr", "name"),
        PipeRead: ("name",),
        NumaScan: (),
        ClearRefs: (),
        Resume: (),
        DmaWrite: ("pin",),
        DmaRead: ("pin",),
        LruDrain: ("node",),
        Move: ("thread", "node"),
        Reclaim: ("addr",),
    }.items()
}
RW_PIN = frozenset({"FOLL_PIN", "FOLL_WRITE", "FOLL_LONGTERM"})
#: GUP flag -> the cowlab_pin module's flag (module/cowlab_pin_abi.h); FOLL_PIN is its default
MODULE_FLAGS = {
    "FOLL_WRITE": "COWLAB_PIN_WRITE",
    "FOLL_FORCE": "COWLAB_PIN_FORCE",
    "FOLL_LONGTERM": "COWLAB_PIN_LONGTERM",
    "FOLL_GET": "COWLAB_PIN_GET",
}


def pin_flags(flags: tuple[str, ...], fast: bool) -> str:
    """The module's flags for a pin step, as a C expression; Refuse what no kernel the
    oracle boots takes (get_user_pages() refuses FOLL_LONGTERM without FOLL_PIN)."""
    have = set(flags)
    if {"FOLL_GET", "FOLL_PIN"} <= have:
        raise Refuse("FOLL_GET and FOLL_PIN exclude each other")
    if not have & {"FOLL_GET", "FOLL_PIN"}:
        raise Refuse("a pin takes FOLL_PIN or FOLL_GET references")
    if {"FOLL_GET", "FOLL_LONGTERM"} <= have:
        raise Refuse("FOLL_LONGTERM needs FOLL_PIN: get_user_pages() refuses it (EINVAL) on 5.10 and later")
    names = [MODULE_FLAGS[f] for f in GUP_FLAG_NAMES if f in have and f in MODULE_FLAGS]
    names += ["COWLAB_PIN_FAST"] if fast else []
    return " | ".join(names) or "0"


def entry_arrivals(action: object, stage: str) -> int:
    """1 when the action's kernel call starts at ``stage``: the model runs that first
    stage with the call's start and counts arrivals from the second, the kernel's stop
    counts every one (a /proc/self/mem write's first lookup is follow_page's first call)."""
    match action:
        case ProcMemWrite() | ProcMemRead():
            return int(stage == gup_entry_stage(False))
        case Pin(by=by, fast=fast) if by != "io_uring":
            return int(stage == gup_entry_stage(fast))
    return 0


def step_label(i: int, step: Step) -> str:
    """``steps[3] C vmsplice mem``: the step as the scenario writes it."""
    action = step.action
    label = f"steps[{i}] {step.actor} {ACTION_NAMES[type(action)]}"
    if not fields(action):
        return label
    first = fields(action)[0]
    value = getattr(action, first.name)
    return label if value is None or value == first.default else f"{label} {value}"


class Held(NamedTuple):
    """A step whose thread is held in the kernel: ``place`` keeps its op's place in the
    op list until the op is written."""

    number: int
    step: Step
    label: str
    stop: Stop
    place: Op


class Translator(Walk):
    """``instrumented``: for a kernel built with cowlab's stops (kbuild, stops.py): a
    step's ``until:`` at a stage such a kernel can hold becomes a real hold, ``resume``
    its release, and numa_scan and lru_drain become the kernel's triggers."""

    def __init__(
        self, scenario: Scenario, *, instrumented: bool = False, reached: frozenset[int] | None = None
    ) -> None:
        super().__init__(scenario)
        self.instrumented = instrumented
        #: the steps whose stop the model reaches on the kernel the program is for (None:
        #: every one); a step that runs on past its stage is written in place (what its
        #: call does comes at its step), its stop only observed
        self.reached = reached
        #: threads whose stop is only observed: their resume still releases them
        self.observed: set[str] = set()
        #: scenario thread -> its held step (its call still inside the kernel), written
        #: when it is resumed
        self.pending: dict[str, Held] = {}
        self.stop_stages: list[str] = []
        #: choose: values the instrumented program cannot force -> the steps that ask
        self.choices: dict[str, list[str]] = {}

    def run(self) -> Program:
        problems: list[str] = []
        for i, step in enumerate(self.scenario.steps):
            where = f"steps[{i}] {step.actor} {ACTION_NAMES[type(step.action)]}"
            label = step_label(i, step)
            try:
                stop = self.stop_point(label, step)
                if stop is not None and (self.reached is None or i in self.reached):
                    place = Op(label, step.actor)
                    self.ops.append(place)
                    self.hold(Held(i, step, label, stop, place))
                elif stop is not None:
                    self.observe(i, step, label, stop)
                else:
                    self.step(i, step, label)
            except Refuse as exc:
                self.comment = []
                problems.append(f"{where}: {exc}")
        for actor in list(self.pending):  # held to the end: what its call did comes last
            try:
                self.complete(actor)
            except Refuse as exc:
                problems.append(str(exc))
        if problems:
            raise ExportError(self.scenario.name, problems)
        for choice, steps in self.choices.items():
            self.note(
                f"{', '.join(steps)}: choose: {choice} is the model's choice inside the kernel; "
                "the real kernel takes its own path"
            )
        self.final_checks()
        return self.program()

    def emit(
        self, thread: str, label: str, body: list[str], *, fork_thread: str | None = None, exits: bool = False
    ) -> Op:
        if thread in self.pending:
            stage = self.pending[thread].stop.stage
            raise Refuse(f"{thread} is held in the kernel at {stage}: it cannot run this step")
        return super().emit(thread, label, body, fork_thread=fork_thread, exits=exits)

    def stop_point(self, label: str, step: Step) -> Stop | None:
        """The hold a step asks for (instrumented), or None: no stop, or one the
        program approximates by running the step to completion (said in a note)."""
        if step.choose is not None:
            if not self.instrumented:
                raise Refuse(
                    f"choose: {step.choose} is a choice inside the kernel that user space cannot force"
                )
            self.choices.setdefault(step.choose, []).append(label.split(" ", 1)[0])
        if step.until is None or type(step.action) is Resume:
            return None
        if self.instrumented and step.until in HOLDABLE:
            return Stop(step.until, step.nth + entry_arrivals(step.action, step.until))
        if step.until.startswith(REFUSED_STAGES):
            if self.instrumented:
                raise Refuse(
                    f"until: {step.until} stops inside a NUMA migration, where no kernel stop is placed"
                )
            raise Refuse(
                f"until: {step.until} stops inside a NUMA migration, where only a kernel built "
                "with cowlab's stops can hold a thread (export it instrumented)"
            )
        nth = f" (arrival {step.nth})" if step.nth != 1 else ""
        text = (
            f"{label}: the model stops it at {step.until}{nth} for other steps to run; "
            "here it runs to completion"
        )
        self.note(text)
        self.comment = [f"/* APPROXIMATE: {text} */"]
        return None

    def hold(self, held: Held) -> None:
        """The step's thread parks at its stop; the controller waits for that (or for
        the call to return without reaching it, as the model may say too).  What the
        call does to memory happens when it returns, after the steps in between: its op
        is written then (``complete``) and put back in its place."""
        self.await_stop(held.label, held.step.actor, held.stop.stage)
        self.pending[held.step.actor] = held

    def observe(self, i: int, step: Step, label: str, stop: Stop) -> None:
        """A stop the model does not reach on this kernel: the op is written at its
        step, armed all the same so that the program sees whether the kernel stops."""
        before = len(self.ops)
        self.step(i, step, label)
        self.stopping_op(before, step.actor, stop)
        self.await_stop(label, step.actor, stop.stage)
        self.observed.add(step.actor)

    def complete(self, actor: str) -> None:
        """The held step's op, written with what the steps in between did, at its place."""
        held = self.pending.pop(actor)
        before = len(self.ops)
        try:
            self.step(held.number, held.step, held.label)
            op = self.stopping_op(before, actor, held.stop)
        except Refuse as exc:
            raise Refuse(
                f"steps[{held.number}] {actor} {ACTION_NAMES[type(held.step.action)]}: {exc}"
            ) from None
        del self.ops[before:]
        self.ops[self.ops.index(held.place)] = op

    def stopping_op(self, before: int, actor: str, stop: Stop) -> Op:
        """The one op a stopping step wrote (from ``before`` on), with its stop."""
        ops = self.ops[before:]
        if len(ops) != 1 or ops[0].thread != actor or ops[0].exits:
            raise Refuse(f"until: {stop.stage} on a step the exporter writes as several operations")
        ops[0].stop = stop
        return ops[0]

    def await_stop(self, label: str, actor: str, stage: str) -> None:
        """The controller's op after a stopping step: until the thread is held there
        (the program needs a kernel with that stage)."""
        if stage not in self.stop_stages:
            self.stop_stages.append(stage)
        index = self.threads[actor].index
        self.controller_op(f"{label}: {actor} held at {stage}", [f"stop_await({index}, {cstr(stage)});"])

    def controller_op(self, label: str, body: list[str]) -> None:
        """An op of the controller, a process of its own forked at the start: a thread
        of the scenario's process would fault on memory a held fork has write-protected
        and wait for that fork's mmap_lock, so it could never release it."""
        if CONTROLLER not in self.threads:
            proc = Proc(CONTROLLER, len(self.procs), [CONTROLLER])
            self.procs[CONTROLLER] = proc
            self.add_thread(CONTROLLER, proc.index, None, initial=True)
        self.emit(CONTROLLER, label, body)

    def live_thread(self, prefer: str | None = None) -> str:
        """As Walk's, but never the controller: its process maps none of the scenario's memory."""
        if prefer is None and self.ops and self.ops[-1].thread == CONTROLLER:
            prefer = next(
                (t for t, p in self.thread_proc.items() if t != CONTROLLER and self.procs[p].alive), None
            )
        return super().live_thread(prefer)

    def resume(self, actor: str, step_until: str | None, label: str) -> None:
        """``resume``: the controller releases the held thread and waits until its call
        returns; a resume that stops again runs to completion instead (said)."""
        index = self.threads[actor].index
        if step_until is not None:
            self.note(f"{label}: the model stops {actor} again at {step_until}; here it runs to completion")
        self.complete(actor)
        self.controller_op(label, [f"stop_resume({index});"])

    def step(self, i: int, step: Step, label: str) -> None:
        a = step.action
        actor = step.actor
        handled = HANDLED_FIELDS.get(type(a))
        if handled is None:
            raise Refuse("the exporter does not know this action")
        for f in fields(a):
            if f.name not in handled and getattr(a, f.name) != f.default:
                raise Refuse(f"option {f.name}={getattr(a, f.name)!r} is not supported")
        match a:
            case (
                Mmap()
                | Write()
                | Read()
                | Munmap()
                | Mprotect()
                | Madvise()
                | Mremap()
                | ProcMemWrite()
                | ProcMemRead()
                | ClearRefs()
            ):
                self.memory(i, a, actor, label)
            case Fork() | Exit():
                self.process(a, actor, label)
            case Pin() | Unpin() | DmaWrite() | DmaRead():
                self.pinning(i, a, actor, label)
            case Vmsplice() | PipeRead():
                self.piping(a, actor, label)
            case _:
                self.background(a, actor, label, step.until)

    # ---- memory ----

    def memory(self, i: int, a: object, actor: str, label: str) -> None:
        proc = self.actor_proc(actor)
        match a:
            case Mmap():
                self.mmap(proc, a, actor, label)
            case Write(addr) | ProcMemWrite(addr):
                key, region, c = self.addr(proc, addr, "write" if type(a) is Write else "read")
                how = "write" if type(a) is Write else "proc_mem_write"
                token = self.tokens.new(f"{proc.name} {how} at steps[{i}]", proc.name)
                proc.known.add(token)
                self.store(proc, key, token)
                call = "store64" if type(a) is Write else "proc_mem_write"
                self.emit(
                    actor, label, [f"{call}({c}, tokval({token}));", *self.populated(region, key, True)]
                )
            case Read(addr) | ProcMemRead(addr):
                key, region, c = self.addr(proc, addr, "read")
                expect = self.expect_at(proc, key)
                n = self.check("no_lost_write", f"{label} reads {self.tdesc(expect)}", label, proc.known)
                load = "load64" if type(a) is Read else "proc_mem_read"
                self.emit(
                    actor,
                    label,
                    [
                        f"check_value({n}, {load}({c}), {expect}, KNOWN({n}));",
                        *self.populated(region, key, False),
                    ],
                )
            case Munmap(name, first, count):
                region = self.region(proc, name)
                pages = self.page_range(region, first, count)
                body = [f"do_munmap({at}, {length});" for at, length in self.spans(region, pages)]
                for page in pages:
                    proc.expected.pop((name, page), None)
                    region.mapped[page] = False
                self.detach(proc, name, pages)
                if not any(region.mapped):
                    del proc.regions[name]
                self.emit(actor, label, body)
            case Mprotect(name, prot, first, count):
                region = self.region(proc, name)
                pages = self.page_range(region, first, count)
                for page in pages:
                    region.prots[page] = prot
                body = [
                    f"do_mprotect({at}, {length}, {PROTS[prot]});" for at, length in self.spans(region, pages)
                ]
                self.emit(actor, label, body)
            case Madvise(name, advice, first, count):
                self.madvise(proc, name, advice, first, count, actor, label)
            case Mremap(name, to, first, count):
                self.mremap(proc, name, to, first, count, actor, label)
            case ClearRefs():
                self.emit(actor, label, ["clear_refs();"])

    def mmap(self, proc: Proc, a: Mmap, actor: str, label: str) -> None:
        if a.name in proc.regions:
            raise Refuse(f"region {a.name} is already mapped")
        # a file on hugetlbfs is a memfd with MFD_HUGETLB: its mappings are in huge pages
        huge = a.hugetlb or (a.file is not None and self.file_fs(a.file) == HUGETLBFS)
        if a.shared and not a.file:
            raise Refuse("MAP_SHARED anonymous memory is not modeled")
        thp = "thp" if a.thp else "mthp" if a.mthp else None
        index = self.region_index.setdefault(a.name, len(self.region_index))
        region = proc.regions[a.name] = Region(index, a.pages, a.prot, a.file, huge, thp=thp, shared=a.shared)
        self.huge_pages += a.pages if huge and not a.shared else 0  # anon pages or private copies
        self.fresh(proc, a.name)
        if thp is not None:
            self.thp_sizes.add(thp)
            call = f"do_mmap_thp({region.size}, {PROTS[a.prot]})"
        else:
            fd = f"file_{'rw' if a.shared else 'ro'}[{self.file_index(a.file)}]" if a.file else "-1"
            kind = (
                "MAP_KIND_SHARED"
                if a.shared
                else "MAP_KIND_HUGETLB"
                if a.hugetlb and not a.file
                else "MAP_KIND_PRIVATE"
            )
            call = f"do_mmap({region.size}, {PROTS[a.prot]}, {fd}, {kind})"
        self.emit(actor, label, [f"region[{index}] = {call};"])

    def populated(self, region: Region, key: Key, write: bool) -> list[str]:
        """After the first fault on a THP unit, the statement that checks the kernel
        populated a THP there (else the rest SKIPs): a write maps a THP (or mTHP), a
        read of a PMD THP range the huge zero page; a read of an mTHP range maps
        the small zero page in the model too, so nothing is checked then."""
        unit = region.unit_of(key[1])
        if unit is None or unit in region.touched:
            return []
        assert region.thp is not None
        if not write and region.thp == "mthp":
            return []
        region.touched.add(unit)
        at, pages = region.unit_span(unit)
        what = ("a THP" if write else "the huge zero page") if region.thp == "thp" else "a 16 kB mTHP"
        return [f"thp_populated({at}, {pages}, {cstr(what)});"]

    def page_range(self, region: Region, first: int, count: int | None) -> range:
        """Pages first .. first + count - 1 (count None: to the end of the region)."""
        end = region.pages if count is None else first + count
        if not 0 <= first < end <= region.pages:
            raise Refuse(f"pages {first}..{end - 1} are not all in the region ({region.pages} pages)")
        return range(first, end)

    def spans(self, region: Region, pages: range) -> list[tuple[str, str]]:
        """(address, length) of each mapped stretch of ``pages``: one system call each."""
        return [region.span(f, n) for f, n in region.runs(pages.start, len(pages))]

    def file_index(self, name: str) -> int:
        return list(self.file_tokens).index(name)

    def file_fs(self, name: str) -> str:
        return next(f.fs for f in self.scenario.files if f.name == name)

    def madvise(
        self, proc: Proc, name: str, advice: str, first: int, count: int | None, actor: str, label: str
    ) -> None:
        region = self.region(proc, name)
        pages = self.page_range(region, first, count)
        if region.huge and advice in ("pageout", "wipeonfork"):
            raise Refuse(f"MADV_{advice.upper()} does not apply to hugetlb mappings")
        if advice == "pageout":
            self.pageout(proc, name, region, pages, actor, label)
            return
        if advice not in ADVICE:
            raise Refuse(f"MADV_{advice.upper()} is not exported")
        if advice == "wipeonfork" and region.file:
            raise Refuse("MADV_WIPEONFORK applies to anonymous mappings only")
        if advice == "dontneed":
            self.fresh(proc, name, pages)
            self.detach(proc, name, pages)
        elif advice in ("dontfork", "dofork"):
            region.dontfork = (
                (region.dontfork | set(pages)) if advice == "dontfork" else region.dontfork - set(pages)
            )
        elif advice in ("wipeonfork", "keeponfork"):
            change = set(pages)
            region.wipeonfork = (
                region.wipeonfork | change if advice == "wipeonfork" else region.wipeonfork - change
            )
        call = "do_collapse" if advice == "collapse" else "do_madvise"
        extra = "" if advice == "collapse" else f", {ADVICE[advice]}"
        self.emit(actor, label, [f"{call}({at}, {n}{extra});" for at, n in self.spans(region, pages)])

    def pageout(self, proc: Proc, name: str, region: Region, pages: range, actor: str, label: str) -> None:
        """MADV_PAGEOUT: pages that must go to swap are written anonymous pages
        nothing else holds; the others are only noted if they stay."""
        self.needs_swap = True
        must = [
            p
            for p in pages
            if proc.expected.get((name, p)) and not region.file and not self.referenced(proc, (name, p))
        ]
        if (
            region.offsets == tuple(range(region.pages + 1))
            and len(pages) == region.pages
            and all(region.mapped)
        ):
            mask = sum(1 << p for p in must)
            self.emit(actor, label, [f"do_pageout(region[{region.index}], {region.pages}, {mask:#x}ULL);"])
            return
        body = [f"do_madvise({at}, {n}, MADV_PAGEOUT);" for at, n in self.spans(region, pages)]
        body += [f"pageout_left({region.at(p)}, {p}, {int(p in must)});" for p in pages if region.mapped[p]]
        self.emit(actor, label, body)

    def mremap(
        self, proc: Proc, name: str, to: str, first: int, count: int | None, actor: str, label: str
    ) -> None:
        region = self.region(proc, name)
        pages = self.page_range(region, first, count)
        if to in proc.regions:
            raise Refuse(f"region {to} is already mapped")
        if not all(region.mapped[p] for p in pages):
            raise Refuse("mremap of a range that is not all mapped fails (EFAULT)")
        index = self.region_index.setdefault(to, len(self.region_index))
        moved = proc.regions[to] = region.moved(index, first, len(pages))
        for k, page in enumerate(pages):
            token = proc.expected.pop((name, page), None)
            if token:
                proc.expected[(to, k)] = token
            region.mapped[page] = False
        for pin in self.pins.values():
            if pin.proc == proc.name and pin.region == name and pin.page in pages:
                pin.region, pin.page = to, pin.page - first
        for pipe in self.pipes.values():
            if (
                pipe.owner == proc.name
                and pipe.key is not None
                and pipe.key[0] == name
                and pipe.key[1] in pages
            ):
                pipe.key = (to, pipe.key[1] - first)
        at, length = region.span(first, len(pages))
        self.emit(actor, label, [f"region[{moved.index}] = do_mremap({at}, {length});"])

    # ---- processes ----

    def process(self, a: Fork | Exit, actor: str, label: str) -> None:
        proc = self.actor_proc(actor)
        if type(a) is Fork:
            thread = a.thread or a.child
            self.forks += 1
            child = proc.forked(a.child, len(self.procs), thread)
            self.procs[a.child] = child
            self.add_thread(thread, child.index, None, initial=False)
            self.affinity[thread] = self.affinity.get(actor)
            self.emit(actor, label, [], fork_thread=thread)
            return
        proc.alive = False
        held = [p for p in self.pins.values() if p.proc == proc.name and p.held]
        for pin in held:
            pin.attached = pin.held = False
        if not proc.first:
            self.emit(actor, label, [], exits=True)
            return
        text = (
            f"{label}: {proc.name} is the test program itself, so its exit is emulated: "
            "unmap every region, release its pins, close its pipes"
        )
        self.note(text)
        body = [f"/* APPROXIMATE: {text} */"]
        body += [
            f"do_munmap({at}, {n});" for r in proc.regions.values() for at, n in self.spans(r, range(r.pages))
        ]
        body += [f"unpin(&pin[{p.index}]);" for p in held]
        body += [
            f"close(pipe_fd[{self.pipes[n].index}][{end}]);" for n in sorted(proc.pipes) for end in (0, 1)
        ]
        proc.regions.clear()
        self.emit(actor, label, body)

    # ---- pins and the device ----

    def pinning(self, i: int, a: object, actor: str, label: str) -> None:
        match a:
            case Pin(addr, name, flags, fast, by, outcome):
                self.pin(addr, name, flags, fast, by, outcome, actor, label)
            case Unpin(name):
                proc = self.actor_proc(actor)
                pin = self.held_pin(name)
                if pin.proc != proc.name:
                    raise Refuse(f"pin {name} belongs to process {pin.proc}")
                body = self.pfn_check(pin, label, f"{label}: pin {name}")
                pin.held = False
                self.emit(actor, label, [*body, f"unpin(&pin[{pin.index}]);"])
            case DmaWrite(name):
                pin = self.held_pin(name)
                if not pin.write:
                    raise Refuse(f"{name} is a R/O pin: the device never writes through it")
                owner = self.procs[pin.proc]
                token = self.tokens.new(f"device dma_write through {name} at steps[{i}]", owner.name)
                owner.known.add(token)
                if pin.file_page is not None:
                    self.file_data[pin.file_page[0]][pin.file_page[1]] = token
                    self.tokens.public.add(token)
                elif pin.attached:
                    owner.expected[(pin.region, pin.page)] = token
                self.emit(pin.thread, label, [f"dma_write(&pin[{pin.index}], tokval({token}));"])
            case DmaRead(name):
                pin = self.held_pin(name)
                owner = self.procs[pin.proc]
                if pin.attached:
                    expect = self.expect_at(owner, (pin.region, pin.page))
                    promise = "pin_coherence" if pin.write else "ro_pin_coherence"
                    desc = (
                        f"{label} reads {self.tdesc(expect)}, what {owner.name} last wrote at "
                        f"{pin.region}[{pin.page}]"
                    )
                else:
                    expect, promise = -1, "fork_isolation"
                    desc = f"{label} sees only data {owner.name} may see"
                n = self.check(promise, desc, label, owner.known)
                self.emit(pin.thread, label, [f"check_dma({n}, &pin[{pin.index}], {expect}, KNOWN({n}));"])

    def pin(
        self,
        addr: str,
        name: str,
        flags: tuple[str, ...],
        fast: bool,
        by: str,
        expect: str | None,
        actor: str,
        label: str,
    ) -> None:
        """A driver's pin through the module (with exactly the scenario's flags), or an
        io_uring buffer registration; a check where the scenario says what the call
        returns (call_result), or where a long-term write pin may hold a page-cache page
        that writeback cleans (file_pin_writeback: the kernel refuses it from 6.5)."""
        proc = self.actor_proc(actor)
        key, region, c = self.addr(proc, addr, "read")
        if name in self.pins and self.pins[name].held:
            raise Refuse(f"pin {name} is already held")
        if by == "io_uring":
            flags, fast = tuple(sorted(RW_PIN)), False
        elif expect == "refused":
            raise Refuse("expect: refused is checked on io_uring registrations only")
        # a driver's pin that expects success: the program stops (an error cell, never a
        # verdict) if the pin call fails, as it does for any pin
        cflags = pin_flags(flags, fast)
        write = "FOLL_WRITE" in flags
        prot = region.prot_at(key[1])
        if write and prot != "rw" and "FOLL_FORCE" not in flags:
            raise Refuse(f"FOLL_WRITE on a region mapped {prot} without FOLL_FORCE: GUP fails (EFAULT)")
        index = self.pin_index.setdefault(name, len(self.pin_index))
        shared = (region.file, region.file_pages[key[1]]) if region.shared and region.file else None
        pin = PinRef(name, index, proc.name, actor, key[0], key[1], write, file_page=shared)
        self.pins[name] = pin
        if write and key not in proc.expected and not shared:
            proc.expected[key] = self.expect_at(proc, key)  # a write pin copies a private file page
        what = "|".join(flags) + (" fast" if fast else "")
        if by == "io_uring":
            self.needs_uring = True
            self.uring_calls.add(name)
            pin.held = expect != "refused"  # a refused registration holds nothing
            n = 0
            if expect is not None:
                verb = "succeeds" if expect == "ok" else "is refused"
                n = self.check("call_result", f"{label}: io_uring_register_buffers {verb}", label)
            outcome = {"ok": "EXPECT_OK", "refused": "EXPECT_REFUSED", None: "EXPECT_NONE"}[expect]
            self.emit(actor, label, [f"pin_uring(&pin[{index}], {c}, {outcome}, {n});"])
            return
        if set(flags) >= RW_PIN:
            self.needs_uring = True
            self.uring_pins.add(name)
        file = next((f for f in self.scenario.files if shared and f.name == shared[0]), None)
        if write and "FOLL_LONGTERM" in flags and file is not None and fs_has_writeback(file.fs):
            n = self.check(
                "file_pin_writeback",
                f"{label}: the kernel takes no long-term write pin on page {shared and shared[1]} of "
                f"{file.name}, on {file.fs}",
                label,
            )
            self.emit(actor, label, [f"pin_step_file(&pin[{index}], {c}, {cflags}, {cstr(what)}, {n});"])
            return
        self.emit(actor, label, [f"pin_step(&pin[{index}], {c}, {cflags}, {cstr(what)});"])

    def held_pin(self, name: str) -> PinRef:
        pin = self.pins.get(name)
        if pin is None or not pin.held:
            raise Refuse(f"no pin {name} is held")
        if not self.procs[pin.proc].alive:
            raise Refuse(f"the process of pin {name} has exited (its pin went with it)")
        return pin

    def pfn_check(self, pin: PinRef, what: str, subject: str) -> list[str]:
        """pin_coherence by page identity, for an attached R/W pin."""
        if not (pin.write and pin.attached):
            return []
        proc = self.procs[pin.proc]
        region = proc.regions[pin.region]
        n = self.check(
            "pin_coherence",
            f"{subject} still holds the page {proc.name} maps at {pin.region}[{pin.page}]",
            what,
        )
        readable = int(region.prot_at(pin.page) != "none")
        return [f"check_pfn({n}, &pin[{pin.index}], {region.at(pin.page)}, {readable});"]

    def final_checks(self) -> None:
        for pin in self.pins.values():
            if pin.held and pin.write and pin.attached and self.procs[pin.proc].alive:
                body = self.pfn_check(pin, f"end: pin {pin.name}", f"at the end, pin {pin.name}")
                self.emit(pin.thread, f"end: pin {pin.name}", body)

    # ---- pipes ----

    def piping(self, a: Vmsplice | PipeRead, actor: str, label: str) -> None:
        proc = self.actor_proc(actor)
        if type(a) is Vmsplice:
            key, _, c = self.addr(proc, a.addr, "read")
            pipe = self.pipes.setdefault(a.name, PipeRef(a.name, len(self.pipes)))
            if pipe.owner is not None:
                raise Refuse(f"pipe {a.name} already holds a page")
            pipe.owner, pipe.key = proc.name, key
            proc.pipes.add(a.name)
            self.emit(actor, label, [f"do_vmsplice({pipe.index}, {c});"])
            return
        held = self.pipes.get(a.name)
        if held is None or held.owner is None:
            raise Refuse(f"no page was vmspliced into pipe {a.name}")
        pipe, owner = held, self.procs[held.owner]
        if a.name not in proc.pipes:
            raise Refuse(f"{proc.name} does not hold pipe {a.name} (another process created it)")
        n = self.check("fork_isolation", f"{label} sees only data {owner.name} may see", label, owner.known)
        pipe.owner = pipe.key = None
        self.emit(actor, label, [f"check_value({n}, do_pipe_read({pipe.index}), -1, KNOWN({n}));"])

    # ---- the kernel, kswapd and the scheduler ----

    def background(self, a: object, actor: str, label: str, until: str | None = None) -> None:
        match a:
            case NumaScan() if self.instrumented:
                self.numa_scan_now(actor, label)
            case Resume() if actor in self.pending:
                self.resume(actor, until, label)
            case Resume() if actor in self.observed:
                # the model ran it on; should the kernel have held it, let it go
                self.observed.discard(actor)
                self.controller_op(label, [f"stop_resume({self.threads[actor].index});"])
            case LruDrain() if self.instrumented:
                self.emit(self.live_thread(), label, ['stops_trigger("lru_drain");'])
            case NumaScan():
                self.actor_proc(actor)
                self.numa_scans += 1
                self.note(
                    f"{label}: task_numa_work() cannot be forced: NUMA balancing is enabled "
                    "with fast scanning and the thread spins 1.5 s"
                )
                self.emit(
                    actor,
                    label,
                    [
                        "/* task_numa_work() cannot be forced at this moment: "
                        "enable fast balancing and keep running */",
                        "numa_scan();",
                    ],
                )
            case Resume():
                thread = self.live_thread(actor if actor not in (KSWAPD, DEVICE, KERNEL) else None)
                self.emit(thread, label, ["/* the operation already ran to completion */"])
            case LruDrain():
                self.note(f"{label}: lru_add_drain_all() has no userspace trigger (no-op)")
                self.emit(
                    self.live_thread(),
                    label,
                    ["/* lru_add_drain_all(): no userspace trigger, nothing to do */"],
                )
            case Move(thread, node):
                self.actor_proc(thread)
                bound = self.affinity.get(thread)
                if bound is not None and bound != node:
                    # the scheduler cannot move a task its affinity binds (sched_move)
                    self.emit(thread, label, [f"/* {thread} is bound to node {bound}: it stays there */"])
                    return
                self.nodes.add(node)
                self.emit(thread, label, [f"place_self({node});"])
            case Reclaim(addr):
                m = PROC_ADDR_RE.fullmatch(addr)
                if m is None or m["process"] not in self.procs:
                    raise Refuse(f"bad address {addr!r}")
                proc = self.procs[m["process"]]
                if not proc.alive:
                    raise Refuse(f"process {proc.name} has exited")
                _, _, c = self.addr(proc, addr.split(":", 1)[1])
                self.needs_swap = True
                self.note(f"{label}: reclaim is MADV_PAGEOUT from {proc.name}'s thread, not kswapd")
                self.emit(
                    proc.threads[0],
                    label,
                    [f"/* kswapd: MADV_PAGEOUT from {proc.name} */", f"do_pageout({c}, 1, 0);"],
                )
            case _:
                raise Refuse(f"no userspace equivalent for {a!r}")

    def numa_scan_now(self, actor: str, label: str) -> None:
        """task_numa_work() now, over each region of the actor's process (the model's
        address space), through the stops patch's trigger; nothing when the machine
        runs without NUMA balancing, as in the model."""
        proc = self.actor_proc(actor)
        if not self.scenario.machine.numa_balancing:
            self.emit(actor, label, ["/* NUMA balancing is off: task_numa_work() does not run */"])
            return
        self.numa_scans += 1
        body = [
            f"numa_scan_now(region[{r.index}], {r.size});\t/* {name} */"
            for name, r in sorted(proc.regions.items(), key=lambda kv: kv[1].index)
            if any(r.mapped)
        ]
        self.emit(actor, label, body or ["/* no region is mapped */"])

    # ---- the result ----

    def program(self) -> Program:
        files = []
        for i, (name, tokens) in enumerate(self.file_tokens.items()):
            n = self.check(
                "file_isolation", f"at the end, file {name} still holds its data", f"end: file {name}"
            )
            fs = self.file_fs(name)
            final = tuple(self.file_data[name])
            files.append(FileInfo(name, i, tokens, n, final, fs_has_writeback(fs), fs == HUGETLBFS))
        ordered = sorted(self.procs.values(), key=lambda p: p.index)
        return Program(
            name=self.scenario.name,
            description=self.scenario.description,
            numa_balancing=self.scenario.machine.numa_balancing,
            # (name, forked at the start): the scenario's own processes and the controller
            processes=[
                (p.name, p.index < len(self.scenario.processes) or p.name == CONTROLLER) for p in ordered
            ],
            threads=sorted(self.threads.values(), key=lambda t: t.index),
            ops=self.ops,
            checks=self.checks,
            tokens=self.tokens.descs,
            files=files,
            known=self.known,
            approximations=self.approximations,
            nodes=sorted(self.nodes),
            # room for every huge page and a COW copy of it after each fork
            needs_swap=self.needs_swap,
            huge_pages=self.huge_pages * (1 + self.forks) + sum(len(f.tokens) for f in files if f.huge),
            needs_uring=self.needs_uring,
            numa_scans=self.numa_scans,
            nregions=len(self.region_index),
            npins=len(self.pin_index),
            uring_pins=len(self.uring_pins),
            npipes=len(self.pipes),
            uring_calls=len(self.uring_calls),
            thp_sizes=sorted(self.thp_sizes),
            stop_stages=self.stop_stages,
        )


def translate(
    scenario: Scenario, *, instrumented: bool = False, reached: frozenset[int] | None = None
) -> Program:
    """The scenario as a Program; ``instrumented``: for a kernel with cowlab's stops,
    ``reached`` the steps whose stop the model reaches on that kernel (None: all)."""
    return Translator(scenario, instrumented=instrumented, reached=reached).run()
