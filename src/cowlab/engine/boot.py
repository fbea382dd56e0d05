"""From a scenario's declarations to the initial machine, and names to indices."""

from __future__ import annotations

import re
from collections.abc import Iterable

from cowlab.engine.bounds import bounds_for
from cowlab.model import KSWAPD, NO_NODE, File, Machine, Page, Process, Thread
from cowlab.model.layout import Layout
from cowlab.model.state import mm_name, nr_processes, nr_threads, task_name, vma_lookup
from cowlab.model.state.convert import region_span
from cowlab.model.state.records import RecordMachine
from cowlab.model.swap import HUGETLBFS
from cowlab.scenario import Scenario, ScenarioError
from cowlab.scenario.actions import Action

_ADDR = re.compile(r"^(?:(?P<proc>[^:\[\]]+):)?(?P<region>[^:\[\]]+)(?:\[(?P<index>\d+)\])?$")


def boot(scenario: Scenario, more_actions: Iterable[Action] = ()) -> Machine:
    """Processes in declaration order (pid = index), their threads, and kswapd, as a
    compact vector state laid out for ``scenario`` and ``more_actions`` (a check
    configuration's programs): docs/design-notes/compact-state.md."""
    layout = Layout(bounds_for(scenario, more_actions))
    return RecordMachine.from_records(_boot_records(scenario), layout)  # type: ignore[return-value]


def _boot_records(scenario: Scenario) -> Machine:
    processes = tuple(Process(pid, p.name) for pid, p in enumerate(scenario.processes))
    threads = tuple(
        Thread(t.name, pid, t.node, NO_NODE if t.affinity is None else t.affinity)
        for pid, p in enumerate(scenario.processes)
        for t in p.threads
    )
    threads += (Thread(KSWAPD, -1, 0),)
    m = Machine(
        nodes=scenario.machine.nodes,
        numa_balancing=scenario.machine.numa_balancing,
        processes=processes,
        threads=threads,
    )
    files = []
    for spec in scenario.files:
        pfns, tokens = [], []
        for _ in range(spec.pages):
            m, token = m.take_token()
            huge = spec.fs == HUGETLBFS  # a huge page is never on the LRU
            page = Page(node=0, content=token, refcount=1, anon=False, lru=not huge, huge=huge)
            m, pfn = m.with_new_page(page)
            pfns.append(pfn)
            tokens.append(token)
        files.append(File(spec.name, tuple(pfns), tuple(tokens), spec.fs))
    return m._replace(files=tuple(files))


def file_tokens(m: Machine) -> frozenset[int]:
    """The files' data on disk: every process may see it."""
    return frozenset(t for f in m.files for t in f.original)


def thread_index(m: Machine, name: str) -> int | None:
    for i in range(nr_threads(m)):
        if task_name(m, i) == name:
            return i
    return None


def resolve_addr(m: Machine, pid: int | None, text: str) -> tuple[int, int]:
    """``buf``, ``buf[1]`` or ``P:buf[1]`` -> (pid, vpn).  Raises ScenarioError."""
    match = _ADDR.match(text)
    if not match:
        raise ScenarioError(f"bad address {text!r}: expected REGION or REGION[i]")
    if match.group("proc"):
        wanted = match.group("proc")
        pid = next((p for p in range(nr_processes(m)) if mm_name(m, p) == wanted), None)
        if pid is None:
            raise ScenarioError(f"no process named {wanted!r}")
    if pid is None:
        raise ScenarioError(f"address {text!r} needs a process: PROC:{text}")
    region = match.group("region")
    span = region_span(m, pid, region)
    if span is None:
        raise ScenarioError(f"{mm_name(m, pid)} has no region {region!r} mapped")
    index = int(match.group("index") or 0)
    if index >= span[1] - span[0]:
        raise ScenarioError(f"{text}: region {region} has {span[1] - span[0]} page(s)")
    vpn = span[0] + index
    if vma_lookup(m, pid, vpn) < 0:
        raise ScenarioError(f"{text}: that page of {region} has been unmapped")
    return pid, vpn
