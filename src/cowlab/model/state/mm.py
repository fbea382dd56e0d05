"""A process's mm in the compact state: its page table of pte_t values, its flags, and
its VMAs (slots kept in address order).
"""

from __future__ import annotations

from collections.abc import Iterator

from cowlab.model.layout import (
    H_NPROCESSES,
    MMF_ALIVE,
    MMF_HAS_PINNED,
    P_FLAGS,
    P_NAME,
    P_NVMAS,
    P_PARENT,
    P_WRITE_PROTECT_SEQ,
    V_BASE,
    V_FILE,
    V_FLAGS,
    V_NAME,
    V_NPAGES,
    V_PGOFF,
    V_START,
    VMA_WORDS,
    LayoutOverflowError,
)
from cowlab.model.page import HPAGE_NR
from cowlab.model.state.machine import FlatMachine

# --- the page table -------------------------------------------------------------------------


def pte_at(m: FlatMachine, pid: int, vpn: int) -> int:
    """The pte_t at ``vpn`` (0: pte_none).  Outside the layout's range nothing is mapped."""
    index = vpn - m.L.bounds.vpn_base
    if not 0 <= index < m.L.bounds.vpns:
        return 0
    return m.v[m.L.pte(pid, vpn)]


def set_pte_at(m: FlatMachine, pid: int, vpn: int, pte: int) -> None:
    m.v[m.L.pte(pid, vpn)] = pte


def pte_clear(m: FlatMachine, pid: int, vpn: int) -> None:
    m.v[m.L.pte(pid, vpn)] = 0


def mapped_vpns(m: FlatMachine, pid: int) -> Iterator[int]:
    """Every vpn with a non-none entry, in address order (a page-table walk)."""
    base = m.L.pte(pid, m.L.bounds.vpn_base)
    first = m.L.bounds.vpn_base
    v = m.v
    for i in range(m.L.bounds.vpns):
        if v[base + i]:
            yield first + i


def pmd_has_pte_table(m: FlatMachine, pid: int, vpn: int) -> bool:
    """The PMD range of ``vpn`` holds a table of PTEs (so no THP can be mapped there)."""
    at, bit = _pte_table_bit(m, pid, vpn)
    return bool(m.v[at] & bit)


def set_pmd_pte_table(m: FlatMachine, pid: int, vpn: int, on: bool) -> None:
    at, bit = _pte_table_bit(m, pid, vpn)
    m.v[at] = m.v[at] | bit if on else m.v[at] & ~bit


def pmd_pte_tables(m: FlatMachine, pid: int) -> Iterator[int]:
    """The first vpns of the PMD ranges that hold a table of PTEs, in address order."""
    first = m.L.bounds.vpn_base
    for vpn in range(first, first + m.L.bounds.vpns, HPAGE_NR):
        if pmd_has_pte_table(m, pid, vpn):
            yield vpn


def _pte_table_bit(m: FlatMachine, pid: int, vpn: int) -> tuple[int, int]:
    index = vpn - m.L.bounds.vpn_base
    if not 0 <= index < m.L.bounds.vpns:
        raise LayoutOverflowError("vpns", m.L.bounds.vpns, f"vpn {vpn:#x} of pid {pid}")
    rng = index // HPAGE_NR
    return m.L.process(pid) + m.L.proc_pte_tables + rng // 32, 1 << (rng % 32)


# --- mm_struct ------------------------------------------------------------------------------


def mm_alive(m: FlatMachine, pid: int) -> bool:
    return bool(m.v[m.L.process(pid) + P_FLAGS] & MMF_ALIVE)


def set_mm_alive(m: FlatMachine, pid: int, on: bool) -> None:
    _set_mm_flag(m, pid, MMF_ALIVE, on)


def mm_has_pinned(m: FlatMachine, pid: int) -> bool:
    return bool(m.v[m.L.process(pid) + P_FLAGS] & MMF_HAS_PINNED)


def set_mm_has_pinned(m: FlatMachine, pid: int, on: bool = True) -> None:
    _set_mm_flag(m, pid, MMF_HAS_PINNED, on)


def _set_mm_flag(m: FlatMachine, pid: int, bit: int, on: bool) -> None:
    at = m.L.process(pid) + P_FLAGS
    m.v[at] = m.v[at] | bit if on else m.v[at] & ~bit


def mm_name(m: FlatMachine, pid: int) -> str:
    return m.L.symbols.name(m.v[m.L.process(pid) + P_NAME])


def mm_parent(m: FlatMachine, pid: int) -> int:
    return m.v[m.L.process(pid) + P_PARENT]


def write_protect_seq(m: FlatMachine, pid: int) -> int:
    return m.v[m.L.process(pid) + P_WRITE_PROTECT_SEQ]


def set_write_protect_seq(m: FlatMachine, pid: int, seq: int) -> None:
    m.v[m.L.process(pid) + P_WRITE_PROTECT_SEQ] = seq


def set_mm_name(m: FlatMachine, pid: int, name: str) -> None:
    m.v[m.L.process(pid) + P_NAME] = m.L.symbols.intern(name)


def set_mm_parent(m: FlatMachine, pid: int, parent: int) -> None:
    m.v[m.L.process(pid) + P_PARENT] = parent


def clear_process(m: FlatMachine, pid: int) -> None:
    """The empty record of an unused pid: no VMAs, nothing mapped, no parent."""
    base = m.L.process(pid)
    for i in range(m.L.proc_words):
        m.v[base + i] = 0
    m.v[base + P_PARENT] = -1


def new_process(m: FlatMachine, name: str, parent: int = -1) -> int:
    """The next pid (pids are never reused in a run), alive, with no VMAs."""
    pid = m.v[H_NPROCESSES]
    base = m.L.process(pid)
    m.v[base + P_FLAGS] = MMF_ALIVE
    m.v[base + P_NAME] = m.L.symbols.intern(name)
    m.v[base + P_PARENT] = parent
    m.v[H_NPROCESSES] = pid + 1
    return pid


# --- VMAs (slots in address order, like the maple tree) -------------------------------------


def nr_vmas(m: FlatMachine, pid: int) -> int:
    return m.v[m.L.process(pid) + P_NVMAS]


def _vma_field(m: FlatMachine, pid: int, slot: int, f: int) -> int:
    return m.v[m.L.vma(pid, slot) + f]


def vma_start(m: FlatMachine, pid: int, slot: int) -> int:
    return _vma_field(m, pid, slot, V_START)


def vma_end(m: FlatMachine, pid: int, slot: int) -> int:
    base = m.L.vma(pid, slot)
    return m.v[base + V_START] + m.v[base + V_NPAGES]


def vma_flags(m: FlatMachine, pid: int, slot: int) -> int:
    """vma->vm_flags."""
    return _vma_field(m, pid, slot, V_FLAGS)


def set_vma_flags(m: FlatMachine, pid: int, slot: int, flags: int) -> None:
    m.v[m.L.vma(pid, slot) + V_FLAGS] = flags


def vma_name(m: FlatMachine, pid: int, slot: int) -> str:
    return m.L.symbols.name(_vma_field(m, pid, slot, V_NAME))


def vma_file(m: FlatMachine, pid: int, slot: int) -> str:
    """The mapped file's name, "" for anonymous memory (vma->vm_file)."""
    return m.L.symbols.name(_vma_field(m, pid, slot, V_FILE))


def vma_pgoff(m: FlatMachine, pid: int, slot: int) -> int:
    return _vma_field(m, pid, slot, V_PGOFF)


def vma_region_base(m: FlatMachine, pid: int, slot: int) -> int:
    """Where the region began at mmap (``buf[i]`` is page ``base + i``)."""
    base = _vma_field(m, pid, slot, V_BASE)
    return _vma_field(m, pid, slot, V_START) if base < 0 else base


def vma_base_raw(m: FlatMachine, pid: int, slot: int) -> int:
    """The stored base: -1 when the VMA starts its own region."""
    return _vma_field(m, pid, slot, V_BASE)


def vma_lookup(m: FlatMachine, pid: int, vpn: int) -> int:
    """The VMA slot containing ``vpn``, or -1."""
    for slot in range(nr_vmas(m, pid)):
        base = m.L.vma(pid, slot)
        start = m.v[base + V_START]
        if start <= vpn < start + m.v[base + V_NPAGES]:
            return slot
    return -1


def insert_vma(
    m: FlatMachine,
    pid: int,
    slot: int,
    *,
    start: int,
    npages: int,
    flags: int,
    name: str,
    file: str = "",
    pgoff: int = 0,
    base: int = -1,
) -> None:
    """Insert a VMA record at ``slot``, shifting later slots up."""
    n = nr_vmas(m, pid)
    if n >= m.L.bounds.vmas:
        raise LayoutOverflowError("vmas", m.L.bounds.vmas, f"VMA {n + 1} of pid {pid}")
    if not 0 <= slot <= n:
        raise IndexError(slot)
    first = m.L.vma(pid, 0)
    v = m.v
    v[first + (slot + 1) * VMA_WORDS : first + (n + 1) * VMA_WORDS] = v[
        first + slot * VMA_WORDS : first + n * VMA_WORDS
    ]
    at = first + slot * VMA_WORDS
    v[at + V_START] = start
    v[at + V_NPAGES] = npages
    v[at + V_FLAGS] = flags
    v[at + V_NAME] = m.L.symbols.intern(name)
    v[at + V_FILE] = m.L.symbols.intern(file)
    v[at + V_PGOFF] = pgoff
    v[at + V_BASE] = base
    v[m.L.process(pid) + P_NVMAS] = n + 1


def remove_vma(m: FlatMachine, pid: int, slot: int) -> None:
    n = nr_vmas(m, pid)
    if not 0 <= slot < n:
        raise IndexError(slot)
    first = m.L.vma(pid, 0)
    v = m.v
    v[first + slot * VMA_WORDS : first + (n - 1) * VMA_WORDS] = v[
        first + (slot + 1) * VMA_WORDS : first + n * VMA_WORDS
    ]
    for i in range(VMA_WORDS):
        v[first + (n - 1) * VMA_WORDS + i] = 0
    v[m.L.process(pid) + P_NVMAS] = n - 1
