"""The NUMA scanner and task placement (kernel/sched/fair.c task_numa_work,
mm/mempolicy.c change_prot_numa)."""

from __future__ import annotations

from cowlab.kernel.context import Ctx
from cowlab.kernel.mprotect import change_pte_range
from cowlab.model import NO_NODE, Machine


def mm_users(m: Machine, pid: int) -> int:
    return sum(1 for t in m.threads if t.pid == pid)


def task_numa_work(c: Ctx, m: Machine, ti: int) -> Machine:
    """One scan pass by thread ``ti`` over its process's VMAs, under mmap_lock for read.

    change_pte_range skips pages already on the scanning task's node only when the
    mm has one user (v5.15 mm/mprotect.c: target_node when mm_users == 1).
    """
    fn = "task_numa_work"
    if not m.numa_balancing:
        c.decide(fn, "NUMA balancing is off -> no scan")
        return m
    thread = m.threads[ti]
    proc = m.processes[thread.pid]
    target = thread.node if mm_users(m, thread.pid) == 1 else NO_NODE
    for vma in proc.vmas:
        if not vma.accessible or vma.hugetlb:
            c.decide(fn, f"{vma.name}: {'hugetlb' if vma.hugetlb else 'inaccessible'} VMA -> skip")
            continue
        m = change_pte_range(c, m, thread.pid, vma, prot_numa=True, target_node=target)
    return m


def sched_move(c: Ctx, m: Machine, ti: int, node: int) -> Machine:
    """The scheduler (load balancing, NUMA placement) moves a task to ``node``,
    unless its affinity binds it elsewhere."""
    thread = m.threads[ti]
    if thread.affinity != NO_NODE and thread.affinity != node:
        c.decide("sched", f"{thread.name} is bound to node {thread.affinity} -> stays on "
                 f"node {thread.node}")
        return m
    c.note("sched", f"{thread.name} moves from node {thread.node} to node {node}")
    return m.with_thread(ti, thread._replace(node=node))
