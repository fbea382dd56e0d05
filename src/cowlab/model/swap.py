"""Swap slots, the swap cache's other half, and GUP references held outside page tables."""

from __future__ import annotations

from typing import NamedTuple

NO_PFN = -1


class SwapSlot(NamedTuple):
    """A swap slot: ``count`` swap PTEs refer to it (swap_map count); ``cache`` is the
    pfn of its swap-cache page or NO_PFN; ``content`` the data written to disk (-1: none)."""

    count: int = 0  # type: ignore[assignment]  # a field, shadowing tuple.count on purpose
    cache: int = NO_PFN
    content: int = -1


class File(NamedTuple):
    """A file with a page cache: ``pages[i]`` is the pfn caching page ``i`` (the page
    cache holds one reference on each); ``original[i]`` the token the file holds on
    disk, which no private mapping may ever change; ``fs`` the filesystem it is on
    (tmpfs for memfd and shmem; a disk filesystem has writeback)."""

    name: str
    pages: tuple[int, ...]
    original: tuple[int, ...]
    fs: str = "ext4"


#: the filesystem whose pages are huge pages: its mappings are hugetlb mappings
HUGETLBFS = "hugetlbfs"


def fs_has_writeback(fs: str) -> bool:
    """A disk filesystem writes dirty page-cache pages back and wants to hear of the
    first write to a clean page (page_mkwrite, dirty accounting); tmpfs keeps its
    pages in memory and swap, hugetlbfs in memory, and neither wants either."""
    return fs not in ("tmpfs", HUGETLBFS)


class GupRef(NamedTuple):
    """A page reference taken by GUP and held outside the page tables.

    ``kind`` is ``"pin"`` (FOLL_PIN, +GUP_PIN_COUNTING_BIAS) or ``"get"`` (FOLL_GET, +1).
    ``holder`` is ``"device"`` (a driver's DMA pin) or ``"pipe"`` (vmsplice).
    ``pid``/``vpn`` record where the user asked for it.
    """

    name: str
    kind: str
    holder: str
    pid: int
    vpn: int
    pfn: int
    write: bool
    longterm: bool
    #: refcount units this reference holds (GUP_PIN_COUNTING_BIAS for a pin, else 1)
    refs: int = 1
