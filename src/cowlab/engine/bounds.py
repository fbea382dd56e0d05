"""How large a scenario's or a configuration's states can get: the bounds its compact
layout is computed from (docs/design-notes/compact-state.md).

An over-approximation read off the actions: every process a fork can create, every
region an mmap or mremap can place (with the guard page and the PMD alignment of THP
regions), every VMA a partial munmap/mprotect/madvise can split off, pages for each
mapped page in each process several times over (COW copies, migration targets, THP
folios), a swap slot per page.  A state that still outgrows them stops with a
one-line error naming the bound, which a configuration can raise under ``bounds:``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cowlab.model import HPAGE_NR
from cowlab.model.layout import Bounds, LayoutOverflowError
from cowlab.scenario import Scenario, ScenarioError
from cowlab.scenario.actions import (
    Action,
    Fork,
    Madvise,
    Mmap,
    Mprotect,
    Mremap,
    Munmap,
    Pin,
    ProcMemRead,
    ProcMemWrite,
    Vmsplice,
)

#: deepest nesting of kernel operations in a thread: every built-in scenario and
#: configuration reaches 3 (an access -> its fault -> the NUMA hinting fault's
#: continuation, or GUP -> fault -> wait); one to spare
FRAMES = 4
#: page references one frame holds at most (1 in every built-in; one to spare)
HOLDS = 2
#: integer locals of the largest operation record (GUP's 7), one to spare
LOCALS = 8
#: fork's locals before its list of vpns to copy early (child, thread, list length)
FORK_LOCALS = 3


def bounds_error(exc: LayoutOverflowError, scenario: Scenario) -> ScenarioError:
    """A state outgrew its layout: bad input, named by the bound to raise."""
    return ScenarioError(str(exc), file=scenario.source, field=f"bounds.{exc.bound}")


def _round_up(n: int) -> int:
    return -(-n // HPAGE_NR) * HPAGE_NR


def bounds_for(scenario: Scenario, more_actions: Iterable[Action] = ()) -> Bounds:
    """Bounds for ``scenario`` and, for a check configuration, its programs' actions."""
    actions = [s.action for s in scenario.steps] + list(more_actions)
    forks = sum(type(a) is Fork for a in actions)
    mmaps = [a for a in actions if type(a) is Mmap]
    remaps = sum(type(a) is Mremap for a in actions)
    splits = sum(type(a) in (Munmap, Mprotect, Madvise, Mremap) for a in actions)
    region_pages = sum(_round_up(a.pages) for a in mmaps)
    thp_regions = sum(a.thp for a in mmaps)
    gup_refs = sum(type(a) in (Pin, Vmsplice, ProcMemRead, ProcMemWrite) for a in actions)
    processes = len(scenario.processes) + forks
    file_pages = sum(f.pages for f in scenario.files)
    per_process = region_pages * (1 + remaps) + HPAGE_NR * thp_regions
    vpns = _round_up(
        sum(_round_up(a.pages) + 2 * HPAGE_NR for a in mmaps)
        + remaps * (region_pages + 2 * HPAGE_NR)
        + HPAGE_NR
    )
    estimate = Bounds(
        processes=processes,
        threads=sum(len(p.threads) for p in scenario.processes) + forks + 1,
        pages=1 + HPAGE_NR + file_pages + 3 * processes * (per_process + 1) + 2 * gup_refs,
        vpns=max(vpns, HPAGE_NR),
        vmas=1 + len(mmaps) + remaps + 2 * splits + thp_regions,
        frames=FRAMES,
        holds=HOLDS,
        locals=max(LOCALS, FORK_LOCALS + region_pages + file_pages),
        slots=processes * (per_process + file_pages) + 1,
        refs=gup_refs + 1,
        files=max(1, len(scenario.files)),
        file_pages=max([1, *(f.pages for f in scenario.files)]),
    )
    try:
        return replace(estimate, **dict(scenario.bounds))
    except ValueError as exc:
        raise ScenarioError(str(exc), file=scenario.source, field="bounds") from None
