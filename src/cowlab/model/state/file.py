"""Files with a page cache in the compact state: each page's cache pfn and the token
the file holds on disk.
"""

from __future__ import annotations

from cowlab.model.layout import (
    FILE_FIXED_WORDS,
    FILE_FS,
    FILE_NAME,
    FILE_NPAGES,
    H_NFILES,
    LayoutOverflowError,
)
from cowlab.model.state.machine import FlatMachine

# --- files with a page cache -------------------------------------------------------------


def add_file(
    m: FlatMachine, name: str, pfns: tuple[int, ...], tokens: tuple[int, ...], fs: str = "ext4"
) -> int:
    index = m.v[H_NFILES]
    base = m.L.file(index)
    if len(pfns) > m.L.bounds.file_pages:
        raise LayoutOverflowError("file_pages", m.L.bounds.file_pages, f"file {name!r}")
    m.v[base + FILE_NAME] = m.L.symbols.intern(name)
    m.v[base + FILE_NPAGES] = len(pfns)
    m.v[base + FILE_FS] = m.L.symbols.intern(fs)
    n = m.L.bounds.file_pages
    for i, (pfn, token) in enumerate(zip(pfns, tokens, strict=True)):
        m.v[base + FILE_FIXED_WORDS + i] = pfn
        m.v[base + FILE_FIXED_WORDS + n + i] = token
    m.v[H_NFILES] = index + 1
    return index


def file_name(m: FlatMachine, index: int) -> str:
    return m.L.symbols.name(m.v[m.L.file(index) + FILE_NAME])


def file_fs(m: FlatMachine, index: int) -> str:
    """The filesystem type of the file (what fstatfs reports): tmpfs, ext4, ..."""
    return m.L.symbols.name(m.v[m.L.file(index) + FILE_FS])


def file_named(m: FlatMachine, name: str) -> int:
    """The index of the file called ``name``, or -1."""
    for index in range(m.v[H_NFILES]):
        if file_name(m, index) == name:
            return index
    return -1


def file_nr_pages(m: FlatMachine, index: int) -> int:
    return m.v[m.L.file(index) + FILE_NPAGES]


def file_page_pfn(m: FlatMachine, index: int, page: int) -> int:
    """The page-cache pfn of page ``page`` of the file."""
    return m.v[m.L.file(index) + FILE_FIXED_WORDS + page]


def set_file_page_pfn(m: FlatMachine, index: int, page: int, pfn: int) -> None:
    m.v[m.L.file(index) + FILE_FIXED_WORDS + page] = pfn


def page_cache_owner(m: FlatMachine, pfn: int) -> tuple[int, int] | None:
    """page->mapping and page->index of a page-cache page: (file, page), else None."""
    for index in range(m.v[H_NFILES]):
        for page in range(file_nr_pages(m, index)):
            if file_page_pfn(m, index, page) == pfn:
                return index, page
    return None


def file_original(m: FlatMachine, index: int, page: int) -> int:
    """The token the file holds on disk for page ``page``."""
    return m.v[m.L.file(index) + FILE_FIXED_WORDS + m.L.bounds.file_pages + page]
