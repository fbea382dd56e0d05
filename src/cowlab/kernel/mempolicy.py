"""Where a misplaced page should go (mm/mempolicy.c mpol_misplaced, kernel/sched/fair.c).

The default policy with NUMA balancing wants a page on the node of the task that
touches it.  The two-fault cpupid filter (should_numa_migrate_memory) is not
modeled: every hinting fault from another node asks for migration.
"""

from __future__ import annotations

from cowlab.model import NO_NODE, Machine


def mpol_misplaced(m: Machine, ti: int, pfn: int) -> int:
    """The target node, or NO_NODE when the page is already where the task runs."""
    node = m.threads[ti].node
    return NO_NODE if m.page(pfn).node == node else node
