"""VMAs, page granular: anonymous or of a file, private or (a file) shared."""

from __future__ import annotations

from typing import NamedTuple

VM_READ = 0x1
VM_WRITE = 0x2
VM_MAYWRITE = 0x20
VM_SHARED = 0x8
VM_MAYSHARE = 0x80
VM_DONTCOPY = 0x20000
VM_WIPEONFORK = 0x2000000
#: set on new VMAs; cleared by clear_refs (soft-dirty tracking on for the VMA)
VM_SOFTDIRTY = 0x8000000
VM_HUGETLB = 0x400000
#: madvise(MADV_HUGEPAGE): write faults may allocate transparent huge pages
VM_HUGEPAGE = 0x20000000
#: model, not a kernel VMA flag: the THP size enabled for this region is a sub-PMD one
#: (multi-size THP, sysfs hugepage-<size>kB/enabled, which cow.c sets per test), so a
#: write fault allocates an MTHP_NR-page folio mapped by PTEs (19eaf44954df, v6.8)
VM_MTHP = 0x40000000


class Vma(NamedTuple):
    """A VMA named by the user (``buf``), covering ``npages`` pages from ``start``."""

    name: str
    start: int
    npages: int
    flags: int
    #: the file a private file mapping maps ("" for anonymous memory), from page ``pgoff``
    file: str = ""
    pgoff: int = 0
    #: where the region began at mmap: ``buf[i]`` is page ``base + i`` whatever was split
    #: off or unmapped since (-1: this VMA's own start)
    base: int = -1

    @property
    def region_base(self) -> int:
        return self.base if self.base >= 0 else self.start

    @property
    def end(self) -> int:
        return self.start + self.npages

    def contains(self, vpn: int) -> bool:
        return self.start <= vpn < self.start + self.npages

    @property
    def is_cow_mapping(self) -> bool:
        """is_cow_mapping(): private and possibly writable."""
        return (self.flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE

    @property
    def shared(self) -> bool:
        """MAP_SHARED: stores reach the page cache, fork shares the pages."""
        return bool(self.flags & VM_SHARED)

    @property
    def writable(self) -> bool:
        return bool(self.flags & VM_WRITE)

    @property
    def hugetlb(self) -> bool:
        """is_vm_hugetlb_page(): each page of the region is one huge page."""
        return bool(self.flags & VM_HUGETLB)

    @property
    def thp_enabled(self) -> bool:
        """hugepage_vma_check() with THP "enabled=madvise": only MADV_HUGEPAGE VMAs (and
        the PMD size enabled)."""
        return (
            bool(self.flags & VM_HUGEPAGE) and not self.flags & VM_MTHP and not self.file and not self.hugetlb
        )

    @property
    def mthp_enabled(self) -> bool:
        """thp_vma_allowable_orders() for a sub-PMD order: MADV_HUGEPAGE and a multi-size
        THP size enabled (VM_MTHP)."""
        return (
            bool(self.flags & VM_HUGEPAGE)
            and bool(self.flags & VM_MTHP)
            and not self.file
            and not self.hugetlb
        )

    @property
    def soft_dirty_tracking(self) -> bool:
        """vma_soft_dirty_enabled(): clear_refs armed soft-dirty tracking for this VMA."""
        return not self.flags & VM_SOFTDIRTY

    @property
    def accessible(self) -> bool:
        """vma_is_accessible(): any of read/write (exec is not modeled)."""
        return bool(self.flags & (VM_READ | VM_WRITE))


def prot_flags(prot: str) -> int:
    """VMA flags for an mmap/mprotect protection string ``"rw"``, ``"r"`` or ``"none"``."""
    flags = VM_MAYWRITE
    if "r" in prot:
        flags |= VM_READ
    if "w" in prot:
        flags |= VM_WRITE | VM_READ
    return flags
