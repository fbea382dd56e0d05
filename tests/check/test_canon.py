"""Frame locals follow canon.py's naming convention: pfns and pte_t values are plain
ints, so the canonical form finds them by field name (``pfn``, ``pte``, ``*_pte``)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import NamedTuple

import pytest

import cowlab.kernel
from cowlab.check.canon import _frame_pfns, _remap_frame, is_pfn_field, is_pte_field
from cowlab.kernel import frames
from cowlab.kernel.numa_fault import NumaLocals
from cowlab.model import Frame, PresentPte, SwapEntry, pte_view, to_pte_t
from cowlab.model.pte import make_writable_migration_entry, pte_swp_mksoft_dirty
from cowlab.scenario.catalog import builtin_names, load_named_config
from tests.conftest import run_builtin


def kernel_records() -> list[type]:
    """Every NamedTuple defined in cowlab.kernel: the frame locals (and operations)."""
    out = []
    for info in pkgutil.iter_modules(cowlab.kernel.__path__):
        module = importlib.import_module(f"cowlab.kernel.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, tuple)
                and hasattr(value, "_fields")
                and value.__module__ == module.__name__
            ):
                out.append(value)
    return out


def test_kernel_records_name_their_pfn_and_pte_fields() -> None:
    """A field annotated pte_t is named ``pte``/``*_pte``, and such a name holds a pte_t;
    a ``pfn`` field holds an int; no record holds a PTE view."""
    records = kernel_records()
    assert NumaLocals in records
    for record in records:
        for name, hint in record.__annotations__.items():
            annotation = str(getattr(hint, "__forward_arg__", hint))
            where = f"{record.__module__}.{record.__name__}.{name}: {annotation}"
            assert ("pte_t" in annotation) == is_pte_field(name), where
            if is_pte_field(name):
                assert annotation == "pte_t", where
            if is_pfn_field(name):
                assert annotation == "int", where
            for view in ("PresentPte", "MigrationEntry", "SwapEntry", "Pte"):
                assert view not in annotation.replace("pte_t", ""), where


@pytest.fixture
def seen_locals(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record the locals of every frame a stage runs."""
    seen: list[object] = []

    def recording(fn: frames.StageFn) -> frames.StageFn:
        def run(c, m, ti, frame):  # type: ignore[no-untyped-def]
            seen.append(frame.locals)
            return fn(c, m, ti, frame)

        return run

    for name, fn in list(frames.STAGES.items()):
        monkeypatch.setitem(frames.STAGES, name, recording(fn))
    return seen


def test_frames_hold_only_kernel_records(seen_locals: list[object]) -> None:
    """The frames that run (every built-in scenario on a few kernels, and the Gaudi
    check) hold kernel records only, whose PTE fields hold valid pte_t values."""
    from cowlab.check.runner import run_check
    from cowlab.history import kernel_at

    for kernel in ("v4.9", "v5.8", "v5.16", "v6.2"):
        for name in builtin_names():
            run_builtin(name, kernel)
    run_check(load_named_config("gaudi-open"), kernel_at("v5.16"))
    records = set(kernel_records())
    kinds = {type(loc) for loc in seen_locals}
    assert NumaLocals in kinds
    assert kinds <= records | {tuple}
    for loc in seen_locals:
        for name in getattr(loc, "_fields", ()):
            if is_pte_field(name):
                pte_view(getattr(loc, name))  # raises on anything but a pte_t
            elif is_pfn_field(name):
                assert type(getattr(loc, name)) is int


class _Locals(NamedTuple):
    pid: int
    pfn: int
    orig_pte: int
    entry_pte: int
    swap_pte: int
    none_pte: int


def test_pfns_in_frame_locals_are_renamed() -> None:
    migration = pte_swp_mksoft_dirty(make_writable_migration_entry(5))
    swap = to_pte_t(SwapEntry(3, exclusive=True))
    loc = _Locals(0, 4, to_pte_t(PresentPte(5, write=True, dirty=True)), migration, swap, 0)
    frame = Frame("numa", loc, holds=(6,))
    assert _frame_pfns(frame) == [6, 4, 5, 5]
    renamed = _remap_frame(frame, {4: 1, 5: 2, 6: 3}).locals
    assert renamed.pfn == 1
    assert pte_view(renamed.orig_pte) == PresentPte(2, write=True, dirty=True)
    assert pte_view(renamed.entry_pte) == pte_view(migration)._replace(pfn=2)
    assert renamed.swap_pte == swap and renamed.none_pte == 0


def test_the_allocator_never_hands_out_a_pfn_a_kernel_frame_still_names() -> None:
    """do_numa_page keeps the pfn and PTE of a page that migrated away; if that pfn were
    allocated again, the dead name would alias the new page and two equivalent states
    would get two keys (docs/design-notes/compact-state.md)."""
    from cowlab.check.model import CheckModel
    from cowlab.history import kernel_at
    from cowlab.model import state as S
    from cowlab.model.pte import pfn_pte

    m = CheckModel(load_named_config("gaudi-open"), kernel_at("v5.8")).initial().machine
    old = S.alloc_pfn(m)
    S.init_page(m, old, node=0, content=1, refcount=1)
    loc = NumaLocals(pid=0, vpn=0x100, pfn=old, target=1, orig_pte=pfn_pte(old, 0), writable=True)
    frames.push(m, 0, Frame("do_numa_page.migrate_done", loc, holds=()))
    S.free_pfn(m, old)  # migrated away and freed; the frame still names it
    new = S.alloc_pfn(m)
    assert new != old and not S.page_in_use(m, new)
    frames.pop(m, 0, "done")
    assert S.alloc_pfn(m) == old  # named by nobody now: the lowest free pfn again
