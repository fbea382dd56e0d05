"""Property: whatever sequence of actions a user writes, on any kernel, the model stays
consistent (every unit of refcount and mapcount has an owner) and never crashes; an
impossible step is reported as bad input, not as an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cowlab.engine import Replay
from cowlab.history import kernel_at
from cowlab.scenario import (
    ClearRefs,
    DmaRead,
    DmaWrite,
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
    ScenarioError,
    Step,
    Unpin,
    Vmsplice,
    Write,
)
from cowlab.scenario.spec import FileSpec, MachineSpec, ProcessSpec, Scenario, ThreadSpec

KERNELS = [
    "v4.9",
    "v4.10",
    "v4.15",
    "v5.7",
    "v5.8",
    "v5.9",
    "v5.12",
    "v5.16",
    "v5.17",
    "v5.18",
    "v5.19",
    "v6.0",
    "v6.2",
    "v6.5",
    "v6.10",
    "v5.10.262",
]
STAGES = [
    None,
    None,
    None,
    "migrate.unmapped",
    "migrate.isolated",
    "do_numa_page.target_chosen",
    "gup.faultin",
    "reclaim.swapcache",
    "reclaim.unmapped",
]

addr = st.sampled_from(["buf", "buf[1]", "huge", "fmap", "fmap[1]", "thp", "thp[1]", "thp[3]", "moved"])
#: a part of the 4-page THP region: all of it, one page, half, all but the first
thp_first = st.sampled_from([0, 1, 2])
thp_count = st.sampled_from([None, 1, 2])
thread_step = st.one_of(
    st.builds(Write, addr),
    st.builds(Read, addr),
    st.just(NumaScan()),
    st.builds(
        Pin,
        addr,
        st.sampled_from(["p1", "p2"]),
        st.sampled_from(
            [
                ("FOLL_PIN", "FOLL_WRITE", "FOLL_LONGTERM"),
                ("FOLL_PIN", "FOLL_FORCE", "FOLL_WRITE", "FOLL_LONGTERM"),
                ("FOLL_PIN", "FOLL_LONGTERM"),
                ("FOLL_GET",),
            ]
        ),
        st.booleans(),
    ),
    st.builds(Unpin, st.sampled_from(["p1", "p2"])),
    st.builds(Vmsplice, addr, st.just("pipe")),
    st.builds(PipeRead, st.just("pipe")),
    st.builds(
        Mprotect,
        st.just("buf"),
        st.sampled_from(["r", "rw"]),
        st.sampled_from([0, 1]),
        st.sampled_from([None, 1]),
    ),
    st.builds(
        Madvise,
        st.just("buf"),
        st.sampled_from(["dontneed", "dontfork", "dofork", "wipeonfork", "pageout"]),
        st.sampled_from([0, 1]),
        st.sampled_from([None, 1]),
    ),
    st.builds(Munmap, st.just("buf"), st.sampled_from([0, 1]), st.just(1)),
    st.just(Fork("C")),
    st.just(Resume()),
    st.just(ClearRefs()),
    st.builds(ProcMemWrite, addr),
    st.builds(Mprotect, st.sampled_from(["huge", "fmap"]), st.sampled_from(["r", "rw"])),
    st.builds(Madvise, st.sampled_from(["huge", "fmap"]), st.sampled_from(["dontneed", "pageout"])),
    st.builds(ProcMemRead, addr),
    st.builds(Mprotect, st.just("thp"), st.sampled_from(["r", "rw"]), thp_first, thp_count),
    st.builds(
        Madvise,
        st.just("thp"),
        st.sampled_from(["dontneed", "dontfork", "dofork", "pageout", "hugepage", "nohugepage"]),
        thp_first,
        thp_count,
    ),
    st.builds(Munmap, st.just("thp"), thp_first, thp_count),
    st.builds(Mremap, st.just("thp"), st.just("moved"), thp_first, thp_count),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["T1", "T2", "C"]), thread_step, st.sampled_from(STAGES)),
        st.tuples(
            st.just("kernel"),
            st.one_of(
                st.just(LruDrain()), st.builds(Move, st.sampled_from(["T1", "T2"]), st.sampled_from([0, 1]))
            ),
            st.just(None),
        ),
        st.tuples(
            st.just("device"),
            st.one_of(
                st.builds(DmaWrite, st.sampled_from(["p1", "p2"])),
                st.builds(DmaRead, st.sampled_from(["p1", "p2"])),
            ),
            st.just(None),
        ),
        st.tuples(
            st.just("kswapd"),
            st.one_of(st.builds(Reclaim, st.sampled_from(["P:buf", "P:thp[1]"])), st.just(Resume())),
            st.sampled_from(STAGES),
        ),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KERNELS), steps)
def test_model_stays_consistent(kernel: str, raw: list) -> None:
    scenario = Scenario(
        "random",
        MachineSpec(nodes=2, numa_balancing=True),
        (ProcessSpec("P", (ThreadSpec("T1", 0), ThreadSpec("T2", 0))),),
        (
            Step("T1", Mmap("buf", pages=2)),
            Step("T1", Mmap("huge", hugetlb=True)),
            Step("T1", Mmap("fmap", pages=2, prot="r", file="F")),
            Step("T1", Write("buf")),
            Step("T1", Mmap("thp", pages=4, thp=True)),
            Step("T1", Write("thp")),
            *(Step(actor, action, until) for actor, action, until in raw),
        ),
        files=(FileSpec("F", 2),),
    )
    replay = Replay(scenario, kernel_at(kernel))
    for step in scenario.steps:
        try:
            replay.do(step)
        except ScenarioError:
            continue  # impossible here (reported to a user as bad input); state unchanged
    bugs = [v for _, v in replay.violations if v.invariant == "model_sanity"]
    assert bugs == []
