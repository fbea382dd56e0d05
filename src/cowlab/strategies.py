"""Hypothesis strategies for random scenarios and check configurations, the ones
cowlab's own fuzz suite (tests/fuzz) uses: plausible programs built from the scenario
vocabulary (every action, odd arguments included; each step mostly uses what earlier
steps made), any-step sequences, and line and byte mutations of their YAML.

Hypothesis is a test dependency (``pip install 'cowlab[test]'``)::

    from hypothesis import given
    from cowlab import strategies

    @given(strategies.scenarios())
    def test_my_invariant(scenario): ...
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from cowlab.scenario import Scenario, ScenarioError, load_scenario
from cowlab.scenario.actions import ADVICES, GUP_FLAG_NAMES, PROTS

REGIONS = ("buf", "mem")
THREADS = ("T1", "T2")
PINS = ("p1", "p2")


def _addr() -> st.SearchStrategy[str]:
    return st.builds(
        lambda r, i: f"{r}[{i}]" if i is not None else r,
        st.sampled_from(REGIONS),
        st.one_of(st.none(), st.integers(0, 5)),
    )


def _range() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({}), st.builds(lambda f, c: {"first": f, "count": c}, st.integers(0, 4), st.integers(1, 4))
    )


ACTIONS = st.one_of(
    st.builds(
        lambda r, n, thp, huge, prot: {"mmap": r, "pages": n, "thp": thp, "hugetlb": huge, "prot": prot},
        st.sampled_from(REGIONS),
        st.integers(1, 6),
        st.booleans(),
        st.booleans().map(lambda b: b and False),
        st.sampled_from(PROTS),
    ),
    st.builds(lambda a: {"write": a}, _addr()),
    st.builds(lambda a: {"read": a}, _addr()),
    st.builds(lambda a: {"proc_mem_write": a}, _addr()),
    st.builds(lambda a: {"proc_mem_read": a}, _addr()),
    st.builds(lambda r, rng: {"munmap": r, **rng}, st.sampled_from(REGIONS), _range()),
    st.builds(
        lambda r, p, rng: {"mprotect": r, "prot": p, **rng},
        st.sampled_from(REGIONS),
        st.sampled_from(PROTS),
        _range(),
    ),
    st.builds(
        lambda r, a, rng: {"madvise": r, "advice": a, **rng},
        st.sampled_from(REGIONS),
        st.sampled_from(ADVICES),
        _range(),
    ),
    st.builds(
        lambda r, to, rng: {"mremap": r, "to": to, **rng},
        st.sampled_from(REGIONS),
        st.sampled_from(("moved", *REGIONS)),
        _range(),
    ),
    st.builds(
        lambda a, n, f, fast: {"pin": a, "as": n, "flags": sorted(f), "fast": fast},
        _addr(),
        st.sampled_from(PINS),
        st.sets(st.sampled_from(GUP_FLAG_NAMES), min_size=1),
        st.booleans(),
    ),
    st.builds(lambda n: {"unpin": n}, st.sampled_from(PINS)),
    st.builds(lambda a, n: {"vmsplice": a, "as": n}, _addr(), st.sampled_from(PINS)),
    st.builds(lambda n: {"pipe_read": n}, st.sampled_from(PINS)),
    st.just({"fork": "C"}),
    st.just({"clear_refs": "soft_dirty"}),
    st.just("numa_scan"),
)
KERNEL_ACTIONS = st.one_of(
    st.just("lru_drain"),
    st.builds(lambda t, n: {"move": t, "node": n}, st.sampled_from(THREADS), st.integers(0, 1)),
    st.builds(lambda a: {"reclaim": a}, _addr()),
)
DEVICE_ACTIONS = st.builds(
    lambda kind, n: {kind: n}, st.sampled_from(("dma_write", "dma_read")), st.sampled_from(PINS)
)

#: any step at all: mostly impossible sequences (error paths)
ANY_STEPS = st.lists(
    st.one_of(
        st.builds(lambda t, a: {t: a}, st.sampled_from(THREADS), ACTIONS),
        st.builds(lambda a: {"kernel": a}, KERNEL_ACTIONS),
        st.builds(lambda a: {"device": a}, DEVICE_ACTIONS),
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def walks(draw: st.DrawFn) -> list[Any]:
    """A plausible program: each step uses what earlier steps made (regions mapped,
    pins and pipe references held), with the odd impossible step among them."""
    mapped: dict[str, int] = {}
    pins: set[str] = set()
    pipes: set[str] = set()
    steps: list[Any] = []
    for _ in range(draw(st.integers(1, 14))):
        thread = draw(st.sampled_from(THREADS))
        if not mapped or draw(st.integers(0, 9)) == 0:
            region = draw(st.sampled_from([r for r in REGIONS if r not in mapped] or REGIONS))
            pages = draw(st.integers(1, 5))
            mapped[region] = pages
            steps.append(
                {
                    thread: {
                        "mmap": region,
                        "pages": pages,
                        "thp": draw(st.booleans()),
                        "prot": draw(st.sampled_from(("rw", "rw", "r", "none"))),
                    }
                }
            )
            continue
        region = draw(st.sampled_from(sorted(mapped)))
        last = mapped[region] - (draw(st.integers(0, 19)) > 0)  # one past the end, now and then
        addr = f"{region}[{draw(st.integers(0, max(last, 0)))}]"
        kind = draw(
            st.sampled_from(
                (
                    "write",
                    "write",
                    "read",
                    "proc_mem_write",
                    "proc_mem_read",
                    "pin",
                    "pin",
                    "unpin",
                    "vmsplice",
                    "pipe_read",
                    "fork",
                    "mprotect",
                    "madvise",
                    "munmap",
                    "mremap",
                    "numa_scan",
                    "reclaim",
                    "lru_drain",
                    "move",
                    "dma",
                    "clear_refs",
                )
            )
        )
        if kind in ("write", "read", "proc_mem_write", "proc_mem_read"):
            steps.append({thread: {kind: addr}})
        elif kind == "pin":
            name = draw(st.sampled_from([p for p in PINS if p not in pins] or PINS))
            pins.add(name)
            flags = {
                draw(st.sampled_from(("FOLL_PIN", "FOLL_PIN", "FOLL_GET"))),
                *draw(st.sets(st.sampled_from(("FOLL_WRITE", "FOLL_FORCE", "FOLL_LONGTERM")))),
            }
            steps.append(
                {thread: {"pin": addr, "as": name, "flags": sorted(flags), "fast": draw(st.booleans())}}
            )
        elif kind == "unpin" and pins:
            name = draw(st.sampled_from(sorted(pins)))
            pins.discard(name)
            steps.append({thread: {"unpin": name}})
        elif kind == "vmsplice":
            name = draw(st.sampled_from(("q1", "q2")))
            pipes.add(name)
            steps.append({thread: {"vmsplice": addr, "as": name}})
        elif kind == "pipe_read" and pipes:
            name = draw(st.sampled_from(sorted(pipes)))
            pipes.discard(name)
            steps.append({thread: {"pipe_read": name}})
        elif kind == "fork":
            steps.append({thread: {"fork": draw(st.sampled_from(("C", "D")))}})
        elif kind in ("mprotect", "madvise", "munmap", "mremap"):
            action: dict[str, Any] = {kind: region, **draw(_range())}
            if kind == "mprotect":
                action["prot"] = draw(st.sampled_from(PROTS))
            elif kind == "madvise":
                action["advice"] = draw(st.sampled_from(ADVICES))
            elif kind == "mremap":
                action["to"] = draw(st.sampled_from(("moved", "far")))
            if kind in ("munmap", "mremap") and "first" not in action:
                del mapped[region]
                if kind == "mremap":
                    mapped[action["to"]] = 1
            steps.append({thread: action})
        elif kind == "numa_scan":
            steps.append({thread: "numa_scan"})
        elif kind == "reclaim":
            steps.append({"kswapd": {"reclaim": f"P:{addr}"}})
        elif kind == "lru_drain":
            steps.append({"kernel": "lru_drain"})
        elif kind == "move":
            steps.append({"kernel": {"move": thread, "node": draw(st.integers(0, 1))}})
        elif kind == "dma" and pins:
            steps.append(
                {
                    "device": {
                        draw(st.sampled_from(("dma_write", "dma_read"))): draw(st.sampled_from(sorted(pins)))
                    }
                }
            )
        elif kind == "clear_refs":
            steps.append({thread: {"clear_refs": "soft_dirty"}})
    return steps


STEPS = st.one_of(walks(), walks(), walks(), ANY_STEPS)

HEAD = {
    "name": "fuzz",
    "machine": {"nodes": 2, "numa_balancing": True},
    "processes": [{"name": "P", "threads": [{"name": "T1", "node": 0}, {"name": "T2", "node": 1}]}],
}


def scenario_text(steps: list[Any]) -> str:
    return yaml.safe_dump({**HEAD, "steps": steps}, sort_keys=False)


def config_text(steps: list[Any], background: dict[str, int]) -> str:
    programs: dict[str, list[Any]] = {"T1": [], "T2": []}
    for step in steps:
        ((actor, action),) = step.items()
        if actor in programs and action != "numa_scan":
            programs[actor].append(action)
    programs = {name: prog for name, prog in programs.items() if prog} or {"T1": [{"mmap": "buf"}]}
    return yaml.safe_dump({**HEAD, "programs": programs, "background": background}, sort_keys=False)


BACKGROUND = st.fixed_dictionaries(
    {},
    optional={
        "numa_scan": st.integers(0, 2),
        "move": st.integers(0, 1),
        "lru_drain": st.integers(0, 1),
        "reclaim": st.integers(0, 1),
        "dma_write": st.integers(0, 1),
        "dma_read": st.integers(0, 1),
    },
)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few lines dropped, repeated or swapped, characters replaced, bytes
    inserted or the end cut off."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("drop", "repeat", "swap", "char", "insert", "cut")))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            break
        if kind == "drop":
            del lines[i]
        elif kind == "repeat":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind in ("char", "insert"):
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            junk = draw(
                st.sampled_from(
                    (
                        "{",
                        "}",
                        "[",
                        ":",
                        "- ",
                        "&a",
                        "*a",
                        "!!int ",
                        "\t",
                        "\x00",
                        "é",
                        "0x",
                        "-1",
                        "99999999999",
                        "'",
                        '"',
                    )
                )
            )
            lines[i] = line[:at] + junk + line[at + (kind == "char") :]
        else:
            lines = lines[:i]
    return "".join(lines)


# --- the public strategies ----------------------------------------------------------


def steps() -> st.SearchStrategy[list[Any]]:
    """Step lists: plausible walks three times in four, any steps otherwise."""
    return STEPS


def scenario_texts(mutate: bool = False) -> st.SearchStrategy[str]:
    """YAML scenario texts (mutated: often not valid scenarios at all)."""
    texts = STEPS.map(scenario_text)
    return texts.flatmap(mutated) if mutate else texts


def scenarios() -> st.SearchStrategy[Scenario]:
    """Loaded scenarios: the texts of ``scenario_texts()`` that load."""

    def load(text: str) -> Scenario | None:
        try:
            return load_scenario(text, source="<hypothesis>")
        except ScenarioError:
            return None

    return walks().map(scenario_text).map(load).filter(lambda sc: sc is not None)  # type: ignore[return-value]


def check_config_texts(mutate: bool = False) -> st.SearchStrategy[str]:
    """YAML check configurations: each thread's actions as its program, and random
    background budgets."""
    texts = st.builds(config_text, STEPS, BACKGROUND)
    return texts.flatmap(mutated) if mutate else texts
