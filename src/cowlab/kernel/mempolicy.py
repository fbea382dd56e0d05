"""Where a misplaced page should go (mm/mempolicy.c mpol_misplaced, kernel/sched/fair.c).

The default policy with NUMA balancing wants a page on the node of the task that
touches it.  The two-fault cpupid filter (should_numa_migrate_memory) is not
modeled: every hinting fault from another node asks for migration.
"""

from __future__ import annotations

from cowlab.model import NO_NODE, Machine
from cowlab.model import state as S


def mpol_misplaced(m: Machine, ti: int, pfn: int) -> int:
    """The target node, or NO_NODE when the page is already where the task runs."""
    node = S.task_node(m, ti)
    return NO_NODE if S.page_to_nid(m, pfn) == node else node
