"""Handwritten scenarios that reach the exporter's corners."""

from __future__ import annotations

from cowlab.scenario import Scenario, load_scenario

#: gaudi without the stop inside migration: NUMA scans, a move, a FOLL_FORCE fast pin
NUMA = """
name: numa-move
machine: {nodes: 2, numa_balancing: true}
processes:
  - name: P
    threads:
      - {name: T1, node: 0}
      - {name: T2, node: 0, affinity: 0}
steps:
  - T1: {mmap: buf, pages: 2}
  - T1: {write: "buf[1]"}
  - kernel: lru_drain
  - T1: {pin: buf, as: dma, flags: [FOLL_PIN, FOLL_FORCE, FOLL_WRITE, FOLL_LONGTERM], fast: true}
  - T2: numa_scan
  - kernel: {move: T1, node: 1}
  - T1: {read: "buf[1]"}
  - T1: {write: buf}
  - device: {dma_write: dma}
  - T1: {read: buf}
  - device: {dma_read: dma}
  - T1: {unpin: dma}
"""

#: two declared processes, threads, nested forks, exits (one emulated), WIPEONFORK,
#: /proc/self/mem, a pipe, clear_refs
PROCESSES = """
name: processes
machine: {nodes: 1, numa_balancing: false}
processes:
  - name: P
    threads:
      - {name: T1}
      - {name: T2}
  - name: Q
    threads:
      - {name: U1}
steps:
  - T1: {mmap: a, pages: 2}
  - T1: {mmap: w}
  - U1: {mmap: q}
  - T1: {write: "a[1]"}
  - T2: {write: w}
  - U1: {write: q}
  - T1: {madvise: w, advice: wipeonfork}
  - T2: {fork: C, thread: C1}
  - C1: {read: "a[1]"}
  - C1: {read: w}
  - T1: {proc_mem_write: "a[1]"}
  - C1: {read: "a[1]"}
  - C1: {fork: D}
  - D: {write: a}
  - D: exit
  - T1: exit
  - C1: {read: a}
  - U1: {read: q}
  - C1: {vmsplice: "a[1]", as: p}
  - C1: {pipe_read: p}
  - U1: {clear_refs: soft_dirty}
  - U1: {read: q}
"""

#: kswapd reclaim stopped half-way, then resumed
RECLAIM = """
name: reclaim
machine: {nodes: 1, numa_balancing: false}
processes:
  - name: P
    threads:
      - {name: T1}
steps:
  - T1: {mmap: buf}
  - T1: {write: buf}
  - kswapd: {reclaim: "P:buf", until: reclaim.unmapped}
  - T1: {write: buf}
  - kswapd: resume
  - T1: {read: buf}
"""

#: four steps with no userspace equivalent
REFUSED = """
name: refused
machine: {nodes: 1, numa_balancing: false}
processes:
  - name: P
    threads:
      - {name: T1}
steps:
  - T1: {mmap: buf}
  - T1: {pin: buf, as: ro, flags: [FOLL_PIN, FOLL_LONGTERM]}
  - device: {dma_write: ro}
  - T1: {munmap: buf}
  - T1: {read: buf}
  - T1: {mmap: buf, choose: trylock_fail}
  - T1: {write: buf, until: migrate.isolated}
"""


def load(text: str) -> Scenario:
    return load_scenario(text, source="<oracle test>")
