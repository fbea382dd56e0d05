"""The YAML loader and the Python builder: same Scenario, located errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cowlab.scenario import (
    DmaRead,
    DmaWrite,
    Exit,
    Fork,
    LruDrain,
    Madvise,
    Mmap,
    Move,
    Mprotect,
    Munmap,
    NumaScan,
    Pin,
    PipeRead,
    Read,
    Reclaim,
    Resume,
    Scenario,
    ScenarioBuilder,
    ScenarioError,
    ThreadSpec,
    Unpin,
    Vmsplice,
    Write,
    load_scenario,
    load_scenario_file,
)

GAUDI = """\
name: gaudi
description: >
  free text
references: [80d47f5de5e3, CVE-2022-48797]
machine: {nodes: 2, numa_balancing: true}
processes:
  - name: P
    threads:
      - {name: T1, node: 0}
      - {name: T2, node: 0, affinity: 0}
steps:
  - T1: {mmap: buf, pages: 1}
  - T1: {write: buf}
  - kernel: lru_drain
  - T1: {pin: buf, as: dev, flags: [FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM]}
  - T2: numa_scan
  - kernel: {move: T1, node: 1}
  - T1: {read: buf, until: migrate.unmapped}
  - T2: numa_scan
  - T1: resume
  - T1: {write: "buf[0]"}
  - device: {dma_write: dev}
  - device: {dma_read: dev}
  - T1: {fork: C}
  - C: {vmsplice: buf, as: pipe}
  - C: {munmap: buf}
  - C: {pipe_read: pipe}
  - T1: {mprotect: buf, prot: r}
  - T1: {madvise: buf, advice: dontfork}
  - kswapd: {reclaim: "P:buf[0]", until: reclaim.unmapped}
  - kswapd: resume
  - T1: {unpin: dev}
  - C: exit
"""


def gaudi_builder() -> ScenarioBuilder:
    return (
        ScenarioBuilder("gaudi", description="free text", references=["80d47f5de5e3", "CVE-2022-48797"])
        .process("P", ThreadSpec("T1", node=0), ThreadSpec("T2", node=0, affinity=0))
        .step("T1", Mmap("buf", pages=1))
        .step("T1", Write("buf"))
        .step("kernel", LruDrain())
        .step("T1", Pin("buf", "dev", ("FOLL_PIN", "FOLL_FORCE", "FOLL_WRITE", "FOLL_LONGTERM")))
        .step("T2", NumaScan())
        .step("kernel", Move("T1", 1))
        .step("T1", Read("buf"), until="migrate.unmapped")
        .step("T2", NumaScan())
        .step("T1", Resume())
        .step("T1", Write("buf[0]"))
        .step("device", DmaWrite("dev"))
        .step("device", DmaRead("dev"))
        .step("T1", Fork("C"))
        .step("C", Vmsplice("buf", "pipe"))
        .step("C", Munmap("buf"))
        .step("C", PipeRead("pipe"))
        .step("T1", Mprotect("buf", "r"))
        .step("T1", Madvise("buf", "dontfork"))
        .step("kswapd", Reclaim("P:buf[0]"), until="reclaim.unmapped")
        .step("kswapd", Resume())
        .step("T1", Unpin("dev"))
        .step("C", Exit())
    )


def without_lines(scenario: Scenario) -> Scenario:
    steps = tuple(replace(step, line=None) for step in scenario.steps)
    return replace(scenario, steps=steps, source=None)


def test_yaml_and_builder_agree() -> None:
    loaded = load_scenario(GAUDI, source="gaudi.yaml")
    assert loaded.source == "gaudi.yaml"
    assert without_lines(loaded) == gaudi_builder().build()


def test_step_lines_and_defaults() -> None:
    loaded = load_scenario(GAUDI)
    assert [s.line for s in loaded.steps] == list(range(12, 34))
    text = GAUDI.replace(
        "  - C: exit\n",
        "  - C: exit\n  - T1: {pin: buf, as: d2}\n  - kernel: {lru_drain: 1}\n"
        "  - T1: {fork: D, thread: D1}\n  - D1: {resume: true, until: x.y}\n",
    )
    pin, drain, fork, resume = (s for s in load_scenario(text).steps[-4:])
    assert pin.action == Pin("buf", "d2", ("FOLL_PIN", "FOLL_WRITE", "FOLL_LONGTERM"), False)
    assert drain.action == LruDrain(node=1)
    assert fork.action == Fork("D", "D1")
    assert (resume.actor, resume.action, resume.until) == ("D1", Resume(), "x.y")


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "gaudi.yaml"
    path.write_text(GAUDI)
    assert load_scenario_file(path).source == str(path)
    assert without_lines(load_scenario(str(path))) == without_lines(load_scenario_file(path))
    path.write_text(GAUDI.replace("T2: numa_scan", "T3: numa_scan", 1))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}:16: steps[4].T3: unknown actor 'T3'")


HEAD = """\
name: x
processes:
  - name: P
    threads:
      - {name: T1}
      - {name: T2, node: 1}
steps:
  - T1: {mmap: buf}
"""
PROCS = "name: x\nprocesses:\n  - name: P\n    threads:\n"

ERRORS = {
    # malformed YAML, top level
    "yaml syntax": ("name: [\n", "2: <document>: malformed YAML"),
    "yaml two documents": ("name: x\n---\nname: y\n", "2: <document>: malformed YAML"),
    "top level list": ("- a\n- b\n", "1: <document>: the top level must be a mapping"),
    "top level empty": ("", "1: <document>: empty document"),
    "duplicate key": ("name: x\nname: y\n", "2: name: duplicate key 'name'"),
    "missing top key": ("name: x\nprocesses: []\n", "1: steps: missing required key 'steps'"),
    "unknown top key": (
        "name: x\nprocesses: []\nsteps: []\nfoo: 1\n",
        "4: foo: unknown key 'foo' (allowed: name, description, references, introduced_by,",
    ),
    "unknown machine key": (
        "name: x\nmachine:\n  nodes: 2\n  numa: true\n",
        "4: machine.numa: unknown key 'numa' (allowed: nodes, numa_balancing)",
    ),
    # step shape
    "unknown bare action": (HEAD + "  - T1: frob\n", "9: steps[1].T1: unknown action 'frob' (valid: mmap,"),
    "unknown action key": (HEAD + "  - T1: {frob: buf}\n", "9: steps[1].T1.frob: 'frob' is not an action"),
    "no action keyword": (HEAD + "  - T1: {until: a.b}\n", "9: steps[1].T1: no action given"),
    "two action keywords": (
        HEAD + "  - T1: {read: buf, write: buf}\n",
        "9: steps[1].T1.write: two actions 'read' and 'write' in one step",
    ),
    "step not a mapping": (HEAD + "  - T1\n", "9: steps[1]: a step is a one-key mapping ACTOR: ACTION"),
    "step with two actors": (
        HEAD + "  - T1: {write: buf}\n    T2: {write: buf}\n",
        "9: steps[1]: a step is a one-key mapping ACTOR: ACTION",
    ),
    "action not a mapping": (HEAD + "  - T1: [1]\n", "9: steps[1].T1: an action is a keyword"),
    "action without value": (HEAD + "  - T1: write\n", "9: steps[1].T1.write: write needs a value"),
    "unknown extra key": (
        HEAD + "  - T1: {pin: buf, as: d, colour: red}\n",
        "9: steps[1].T1.colour: unknown key 'colour' "
        "(allowed: pin, as, flags, fast, by, expect, until, nth, choose)",
    ),
    # types and ranges
    "wrong type": (
        HEAD + "  - T1: {mmap: b2, pages: '3'}\n",
        "9: steps[1].T1.pages: Input should be a valid integer, got str '3'",
    ),
    "pages out of range": (HEAD + "  - T1: {mmap: b2, pages: 65}\n", "9: steps[1].T1.pages: "),
    "bad prot": (HEAD + "  - T1: {mprotect: buf, prot: rx}\n", "9: steps[1].T1.prot: 'rx' is not"),
    "bad advice": (
        HEAD + "  - T1: {madvise: buf, advice: never}\n",
        "9: steps[1].T1.advice: 'never' is not one of",
    ),
    "bad flag": (
        HEAD + "  - T1:\n      pin: buf\n      as: d\n      flags:\n        - FOLL_PIN\n        - FOLL_X\n",
        "14: steps[1].T1.flags[1]: 'FOLL_X' is not one of",
    ),
    "until not a name": (HEAD + "  - T1: {read: buf, until: 3}\n", "9: steps[1].T1.until: until must"),
    "bad name": (PROCS + "      - {name: 1T}\nsteps: []\n", "5: processes[0].threads[0].name: '1T' is"),
    "negative node": (
        HEAD + "  - kernel: {lru_drain: -1}\n",
        "9: steps[1].kernel.lru_drain: Input should be greater than or equal to 0",
    ),
    "node too big": (
        PROCS + "      - {name: T1}\n      - {name: T2, node: 2}\nsteps: []\n",
        "6: processes[0].threads[1].node: node 2 does not exist",
    ),
    "affinity too big": (
        PROCS + "      - name: T1\n        affinity: 5\nsteps: []\n",
        "6: processes[0].threads[0].affinity: node 5 does not exist",
    ),
    "move node too big": (
        HEAD + "  - kernel: {move: T1, node: 2}\n",
        "9: steps[1].kernel.node: node 2 does not exist",
    ),
    "missing thread name": (
        PROCS + "      - {node: 1}\nsteps: []\n",
        "5: processes[0].threads[0].name: missing required key 'name'",
    ),
    # actors
    "unknown actor": (HEAD + "  - T9: numa_scan\n", "9: steps[1].T9: unknown actor 'T9'"),
    "fork child thread": (
        HEAD + "  - T1: {fork: C, thread: C1}\n  - C: exit\n",
        "10: steps[2].C: unknown actor 'C'",
    ),
    "actor before fork": (
        HEAD + "  - C: exit\n  - T1: {fork: C}\n",
        "9: steps[1].C: unknown actor 'C'",
    ),
    "device may not write": (HEAD + "  - device: {write: buf}\n", "9: steps[1].device: device may not"),
    "thread may not dma": (HEAD + "  - T1: {dma_read: d}\n", "9: steps[1].T1: thread T1 may not"),
    "kernel may not reclaim": (
        HEAD + "  - kernel: {reclaim: 'P:buf'}\n",
        "9: steps[1].kernel: kernel may not reclaim",
    ),
    "kswapd may not write": (HEAD + "  - kswapd: {write: buf}\n", "9: steps[1].kswapd: kswapd may"),
    "until on device action": (
        HEAD + "  - device: {dma_write: d, until: a.b}\n",
        "9: steps[1].device.until: until is not allowed on dma_write",
    ),
    "until on kernel action": (
        HEAD + "  - kernel:\n      move: T1\n      node: 1\n      until: a.b\n",
        "12: steps[1].kernel.until: until is not allowed on move",
    ),
    # duplicate names
    "duplicate process": (
        PROCS + "      - {name: T1}\n  - name: P\n    threads: [{name: T2}]\nsteps: []\n",
        "6: processes[1].name: duplicate process name 'P'",
    ),
    "duplicate thread": (
        PROCS + "      - {name: T1}\n      - {name: T1}\nsteps: []\n",
        "6: processes[0].threads[1].name: duplicate thread name 'T1'",
    ),
    "reserved thread name": (
        PROCS + "      - {name: kswapd}\nsteps: []\n",
        "5: processes[0].threads[0].name: 'kswapd' is reserved",
    ),
    "fork duplicate process": (
        HEAD + "  - T1: {fork: P}\n",
        "9: steps[1].T1.fork: duplicate process name 'P'",
    ),
    "fork duplicate thread": (
        HEAD + "  - T1: {fork: C, thread: T2}\n",
        "9: steps[1].T1.thread: duplicate thread name 'T2'",
    ),
    # addresses
    "bad addr": (HEAD + "  - T1: {write: 'buf[x]'}\n", "9: steps[1].T1.write: address 'buf[x]' is"),
    "bad pin addr": (HEAD + "  - T1: {pin: 'P:buf', as: d}\n", "9: steps[1].T1.pin: address 'P:buf'"),
    "reclaim without process": (
        HEAD + "  - kswapd: {reclaim: 'buf[0]'}\n",
        "9: steps[1].kswapd.reclaim: address 'buf[0]' is not PROC:REGION",
    ),
    "reclaim unknown process": (
        HEAD + "  - kswapd: {reclaim: 'Q:buf[0]'}\n",
        "9: steps[1].kswapd.reclaim: unknown process 'Q'",
    ),
    "bad region": (HEAD + "  - T1: {munmap: 'buf[0]'}\n", "9: steps[1].T1.munmap: 'buf[0]' is"),
}


@pytest.mark.parametrize(("text", "expected"), list(ERRORS.values()), ids=list(ERRORS))
def test_error_is_located(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(text, source="s.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"s.yaml:{expected}"), message


BUILDER_ERRORS = {
    "unknown actor": (lambda b: b.step("T9", NumaScan()), "steps[1].T9: unknown actor"),
    "actor type": (lambda b: b.step("device", Write("buf")), "steps[1].device: device may not"),
    "until on device": (
        lambda b: b.step("device", DmaRead("d"), until="x"),
        "steps[1].device.until: until is not allowed",
    ),
    "duplicate process": (lambda b: b.process("P", ThreadSpec("T2")), "processes[1].name: dup"),
    "no threads": (lambda b: b.process("Q"), "processes[1].threads: a process needs"),
    "bad addr": (lambda b: b.step("T1", Read("buf[")), "steps[1].T1.read: address 'buf['"),
    "bad pages": (lambda b: b.step("T1", Mmap("b", pages=0)), "steps[1].T1.pages: pages must"),
    "bad flag": (
        lambda b: b.step("T1", Pin("buf", "d", ("FOLL_X",))),
        "steps[1].T1.flags[0]: 'FOLL_X' is not one of",
    ),
}


@pytest.mark.parametrize(("edit", "expected"), list(BUILDER_ERRORS.values()), ids=list(BUILDER_ERRORS))
def test_builder_validates(edit: Callable[[ScenarioBuilder], ScenarioBuilder], expected: str) -> None:
    builder = ScenarioBuilder("x").process("P", ThreadSpec("T1")).step("T1", Mmap("buf"))
    with pytest.raises(ScenarioError) as info:
        edit(builder).build()
    assert str(info.value).startswith(f"<scenario>: {expected}"), str(info.value)
