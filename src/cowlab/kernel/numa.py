"""The NUMA scanner and task placement (kernel/sched/fair.c task_numa_work,
mm/mempolicy.c change_prot_numa)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.mprotect import change_pte_range
from cowlab.model import NO_NODE, Machine
from cowlab.model import state as S
from cowlab.model.state.convert import vmas_of


def mm_users(m: Machine, pid: int) -> int:
    return sum(1 for ti in range(S.nr_threads(m)) if S.task_pid(m, ti) == pid)


def task_numa_work(c: Ctx, m: Machine, ti: int) -> Machine:
    """One scan pass by thread ``ti`` over its process's VMAs, under mmap_lock for read.

    change_pte_range skips pages already on the scanning task's node only when the
    mm has one user (v5.15 mm/mprotect.c: target_node when mm_users == 1).  Skipped
    VMAs (kernel/sched/fair.c task_numa_work): hugetlb, inaccessible, and read-only
    file mappings.
    """
    fn = "task_numa_work"
    if not S.numa_balancing_enabled(m):
        c.decide(fn, "NUMA balancing is off -> no scan")
        return m
    pid = S.task_pid(m, ti)
    target = S.task_node(m, ti) if mm_users(m, pid) == 1 else NO_NODE
    for vma in vmas_of(m, pid):
        if not vma.accessible or vma.hugetlb:
            c.decide(fn, f"{vma.name}: {'hugetlb' if vma.hugetlb else 'inaccessible'} VMA -> skip")
            continue
        if vma.file and not vma.writable:
            # shared libraries: their pages are expected to be cached on every node,
            # so read-only file mappings take no hinting faults (in task_numa_work
            # since 2013, before every modeled release)
            c.decide(fn, f"{vma.name}: read-only file mapping -> skip")
            continue
        change_pte_range(c, m, pid, vma, prot_numa=True, target_node=target)
    return m


def sched_move(c: Ctx, m: Machine, ti: int, node: int) -> Machine:
    """The scheduler (load balancing, NUMA placement) moves a task to ``node``,
    unless its affinity binds it elsewhere."""
    affinity = S.task_affinity(m, ti)
    if affinity != NO_NODE and affinity != node:
        c.decide(
            "sched", f"{S.task_name(m, ti)} is bound to node {affinity} -> stays on node {S.task_node(m, ti)}"
        )
        return m
    c.note("sched", f"{S.task_name(m, ti)} moves from node {S.task_node(m, ti)} to node {node}")
    S.set_task_node(m, ti, node)
    return m
