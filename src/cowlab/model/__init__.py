"""State layer: immutable, hashable records of pages, page tables, tasks and the machine.

Page-table entries are ints (``pte_t``, ``cowlab.model.pte``), read and built with
the kernel's accessors; ``PresentPte``/``MigrationEntry``/``SwapEntry`` are views.

Nothing here knows about kernel versions, scenarios or output.
"""

from cowlab.model.machine import Machine
from cowlab.model.page import (
    GUP_PIN_COUNTING_BIAS,
    HPAGE_NR,
    MTHP_NR,
    NO_CPU,
    NO_HEAD,
    NO_SLOT,
    ZERO_PFN,
    Page,
)
from cowlab.model.pte import (
    MIGRATION_READABLE,
    MIGRATION_READABLE_EXCLUSIVE,
    MIGRATION_WRITABLE,
    MigrationEntry,
    PresentPte,
    Pte,
    SwapEntry,
    pte_t,
    pte_view,
    pte_write,
    to_pte_t,
)
from cowlab.model.swap import NO_PFN, File, GupRef, SwapSlot
from cowlab.model.task import KSWAPD, NO_NODE, Frame, Process, Thread
from cowlab.model.vma import (
    VM_DONTCOPY,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_MTHP,
    VM_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_WIPEONFORK,
    VM_WRITE,
    Vma,
    prot_flags,
)

__all__ = [
    "GUP_PIN_COUNTING_BIAS",
    "HPAGE_NR",
    "KSWAPD",
    "MIGRATION_READABLE",
    "MIGRATION_READABLE_EXCLUSIVE",
    "MIGRATION_WRITABLE",
    "MTHP_NR",
    "NO_CPU",
    "NO_HEAD",
    "NO_NODE",
    "NO_PFN",
    "NO_SLOT",
    "VM_DONTCOPY",
    "VM_HUGEPAGE",
    "VM_HUGETLB",
    "VM_MAYSHARE",
    "VM_MAYWRITE",
    "VM_MTHP",
    "VM_READ",
    "VM_SHARED",
    "VM_SOFTDIRTY",
    "VM_WIPEONFORK",
    "VM_WRITE",
    "ZERO_PFN",
    "File",
    "Frame",
    "GupRef",
    "Machine",
    "MigrationEntry",
    "Page",
    "PresentPte",
    "Process",
    "Pte",
    "SwapEntry",
    "SwapSlot",
    "Thread",
    "Vma",
    "prot_flags",
    "pte_t",
    "pte_view",
    "pte_write",
    "to_pte_t",
]
