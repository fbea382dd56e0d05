"""Static checks on a Scenario that need no YAML, so the loader and the Python
API reject the same mistakes: unknown actors, actions an actor may not perform,
duplicate names, bad addresses, out-of-range nodes and option values.

Errors carry a dotted FIELD path in YAML terms (``steps[6].T1.read``) so the
loader can point them at the exact line of the offending node.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import NoReturn

from cowlab.scenario.actions import (
    ACTION_NAMES,
    ADVICES,
    DEVICE_ACTIONS,
    GUP_FLAG_NAMES,
    KERNEL_ACTIONS,
    KSWAPD_ACTIONS,
    PROTS,
    THREAD_ACTIONS,
    Fork,
    LruDrain,
    Madvise,
    Mmap,
    Move,
    Mprotect,
    Mremap,
    Munmap,
    Pin,
    ProcMemRead,
    ProcMemWrite,
    Read,
    Reclaim,
    Resume,
    Vmsplice,
    Write,
)
from cowlab.scenario.errors import ScenarioError
from cowlab.scenario.spec import DEVICE, KERNEL, KSWAPD, Scenario, Step

#: a process, thread, region, pin or pipe name
NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
MAX_PAGES = 64
ADDR_RE = re.compile(rf"(?P<region>{NAME})(?:\[(?P<index>\d+)\])?")
PROC_ADDR_RE = re.compile(rf"(?P<process>{NAME}):(?P<region>{NAME})(?:\[(?P<index>\d+)\])?")
NAME_RE = re.compile(NAME)

#: pseudo-actor -> the actions it may perform
PSEUDO_ACTORS: dict[str, frozenset[type]] = {
    DEVICE: DEVICE_ACTIONS,
    KERNEL: KERNEL_ACTIONS,
    KSWAPD: KSWAPD_ACTIONS,
}
#: actions that complete at once: ``until`` makes no sense on them
NO_UNTIL = DEVICE_ACTIONS | KERNEL_ACTIONS


def action_key(cls: type, field: str) -> str:
    """The YAML key of an action field: the keyword for the first field, ``as``
    for the reference name of pin/vmsplice, the field name otherwise."""
    if field == fields(cls)[0].name:
        return ACTION_NAMES[cls]
    if field == "name" and cls in (Pin, Vmsplice):
        return "as"
    return field


def validate_scenario(scenario: Scenario) -> None:
    """Raise ScenarioError for the first static mistake in ``scenario``."""
    _Checker(scenario).run()


def _names(actions: frozenset[type]) -> str:
    return ", ".join(sorted(ACTION_NAMES[cls] for cls in actions))


class _Checker:
    """Walks processes then steps in order, tracking names created by fork."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.processes: set[str] = set()
        self.threads: set[str] = set()
        self.line: int | None = None

    def fail(self, field: str, message: str) -> NoReturn:
        raise ScenarioError(message, file=self.scenario.source, line=self.line, field=field)

    def run(self) -> None:
        if self.scenario.machine.nodes < 1:
            self.fail("machine.nodes", "a machine needs at least one node")
        for i, proc in enumerate(self.scenario.processes):
            path = f"processes[{i}]"
            self.add_process(proc.name, f"{path}.name")
            if not proc.threads:
                self.fail(f"{path}.threads", "a process needs at least one thread")
            for j, thread in enumerate(proc.threads):
                tpath = f"{path}.threads[{j}]"
                self.add_thread(thread.name, f"{tpath}.name")
                self.check_node(thread.node, f"{tpath}.node")
                self.check_node(thread.affinity, f"{tpath}.affinity")
        for i, step in enumerate(self.scenario.steps):
            self.line = step.line
            self.check_step(f"steps[{i}].{step.actor}", step)
        self.line = None
        for kernel, want in self.scenario.expect:
            self.check_expectation(kernel, want)

    def check_expectation(self, kernel: str, want: str) -> None:
        """``expect:`` names modeled kernels, and says holds, broken or a promise."""
        from cowlab.history import UnknownKernelError, kernel_at
        from cowlab.invariants.violation import PROMISES

        try:
            kernel_at(kernel)
        except UnknownKernelError as exc:
            self.fail(f"expect.{kernel}", str(exc))
        if want not in ("holds", "broken", *PROMISES):
            self.fail(
                f"expect.{kernel}", f"{want!r} is not holds, broken or a promise ({', '.join(PROMISES)})"
            )

    def add_process(self, name: str, field: str) -> None:
        if name in self.processes:
            self.fail(field, f"duplicate process name {name!r}")
        self.processes.add(name)

    def add_thread(self, name: str, field: str) -> None:
        if name in PSEUDO_ACTORS:
            self.fail(field, f"{name!r} is reserved for the {name} pseudo-actor")
        if name in self.threads:
            self.fail(field, f"duplicate thread name {name!r}")
        self.threads.add(name)

    def check_node(self, node: int | None, field: str) -> None:
        nodes = self.scenario.machine.nodes
        if node is not None and not 0 <= node < nodes:
            self.fail(field, f"node {node} does not exist: the machine has nodes 0..{nodes - 1}")

    def check_step(self, base: str, step: Step) -> None:
        cls = type(step.action)
        if cls not in ACTION_NAMES:
            self.fail(base, f"not an action: {step.action!r}")
        keyword = ACTION_NAMES[cls]
        if step.actor in PSEUDO_ACTORS:
            allowed, who = PSEUDO_ACTORS[step.actor], step.actor
        elif step.actor in self.threads:
            allowed, who = THREAD_ACTIONS, f"thread {step.actor}"
        else:
            known = ", ".join([*sorted(self.threads), *PSEUDO_ACTORS])
            self.fail(base, f"unknown actor {step.actor!r} (known here: {known})")
        if cls not in allowed:
            self.fail(base, f"{who} may not {keyword} (it may: {_names(allowed)})")
        if step.until is not None and cls in NO_UNTIL:
            self.fail(f"{base}.until", f"until is not allowed on {keyword}: it completes at once")
        self.check_args(base, step)

    def check_args(self, base: str, step: Step) -> None:
        """Per-action argument checks; ``key`` gives the YAML field path."""
        action = step.action

        def key(field: str) -> str:
            return f"{base}.{action_key(type(action), field)}"

        match action:
            case (
                Write(addr) | Read(addr) | Pin(addr) | Vmsplice(addr) | ProcMemWrite(addr) | ProcMemRead(addr)
            ):
                if not ADDR_RE.fullmatch(addr):
                    self.fail(key("addr"), f"address {addr!r} is not REGION or REGION[i]")
            case Reclaim(addr):
                m = PROC_ADDR_RE.fullmatch(addr)
                if not m:
                    self.fail(key("addr"), f"address {addr!r} is not PROC:REGION or PROC:REGION[i]")
                if m["process"] not in self.processes:
                    self.fail(key("addr"), f"unknown process {m['process']!r} in {addr!r}")
            case Munmap(region) | Mprotect(region) | Madvise(region) | Mremap(region):
                if not NAME_RE.fullmatch(region):
                    self.fail(key("region"), f"{region!r} is not a region name")
        match action:
            case Mmap(hugetlb=True, thp=True):
                self.fail(key("thp"), "a region is either hugetlb or THP, not both")
            case Mmap(file=str(), thp=True):
                self.fail(key("thp"), "THP of file mappings is not modeled")
            case Mmap(thp=True, mthp=True):
                self.fail(key("mthp"), "a region has one THP size: thp (PMD) or mthp (multi-size), not both")
            case Mmap(hugetlb=True, mthp=True):
                self.fail(key("mthp"), "a region is either hugetlb or THP, not both")
            case Mmap(file=str(), mthp=True):
                self.fail(key("mthp"), "THP of file mappings is not modeled")
            case Mmap(file=None, shared=True):
                self.fail(key("shared"), "MAP_SHARED needs a file (shared anonymous memory is not modeled)")
            case Mmap(_, pages, prot, file):
                if not 1 <= pages <= MAX_PAGES:
                    self.fail(key("pages"), f"pages must be 1..{MAX_PAGES}, got {pages}")
                self.check_choice(prot, PROTS, key("prot"))
                if file is not None:
                    spec = next((f for f in self.scenario.files if f.name == file), None)
                    if spec is None:
                        self.fail(key("file"), f"no file {file!r} is declared under files")
                    elif pages > spec.pages:
                        self.fail(key("pages"), f"file {file} has {spec.pages} page(s)")
                    elif action.hugetlb and spec.fs != "hugetlbfs":
                        self.fail(key("hugetlb"), f"file {file} is on {spec.fs}, not hugetlbfs")
            case Mprotect(_, prot):
                self.check_choice(prot, PROTS, key("prot"))
            case Madvise(_, advice):
                self.check_choice(advice, ADVICES, key("advice"))
            case Pin(flags=flags, fast=fast, by=by):
                for i, flag in enumerate(flags):
                    self.check_choice(flag, GUP_FLAG_NAMES, f"{key('flags')}[{i}]")
                if by == "io_uring" and (fast or tuple(flags) != Pin.__dataclass_fields__["flags"].default):
                    self.fail(
                        key("by"),
                        "io_uring chooses its own flags (FOLL_PIN|FOLL_WRITE|FOLL_LONGTERM) and "
                        "GUP path: drop flags and fast",
                    )
            case LruDrain(node):
                self.check_node(node, key("node"))
            case Move(thread, node):
                if thread not in self.threads:
                    self.fail(key("thread"), f"unknown thread {thread!r}")
                self.check_node(node, key("node"))
            case Fork(child, thread):
                self.add_process(child, key("child"))
                self.add_thread(thread or child, key("thread" if thread else "child"))

    def check_choice(self, value: str, choices: tuple[str, ...], field: str) -> None:
        if value not in choices:
            self.fail(field, f"{value!r} is not one of: {', '.join(choices)}")


def validate_programs(scenario: Scenario, programs: tuple[tuple[str, tuple[Step, ...]], ...]) -> None:
    """Static checks of a check configuration's programs: every program belongs to a
    declared thread or to one a fork in some program creates; programs hold only
    thread actions (no resume: they have no global order)."""
    checker = _Checker(scenario)
    checker.run()
    for thread, steps in programs:
        for i, step in enumerate(steps):
            if type(step.action) is Fork:
                checker.line = step.line
                checker.check_args(f"programs.{thread}[{i}]", step)
    regions = {step.action.name for _, steps in programs for step in steps if type(step.action) is Mmap}
    regions |= {step.action.to for _, steps in programs for step in steps if type(step.action) is Mremap}
    for thread, steps in programs:
        for i, step in enumerate(steps):
            region = _region_of(step.action)
            if region is not None and region not in regions:
                checker.line = step.line
                checker.fail(f"programs.{thread}[{i}]", f"no program maps a region {region!r}")
    for thread, steps in programs:
        if thread not in checker.threads:
            checker.line = steps[0].line if steps else None
            checker.fail(f"programs.{thread}", f"no thread {thread!r} is declared or forked")
        for i, step in enumerate(steps):
            checker.line = step.line
            base = f"programs.{thread}[{i}]"
            if type(step.action) not in THREAD_ACTIONS or type(step.action) is Resume:
                checker.fail(base, f"a program holds thread actions, not {ACTION_NAMES[type(step.action)]}")
            if type(step.action) is not Fork:
                checker.check_args(base, step)


def _region_of(action: object) -> str | None:
    match action:
        case Write(addr) | Read(addr) | Pin(addr) | Vmsplice(addr) | ProcMemWrite(addr) | ProcMemRead(addr):
            found = ADDR_RE.fullmatch(addr)
            return found["region"] if found else None
        case Munmap(region) | Mprotect(region) | Madvise(region) | Mremap(region):
            return region
    return None
