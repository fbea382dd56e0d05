"""The compact machine: accessors write where they read, copies are independent, and
a state that outgrows its bounds names the bound to raise."""

from __future__ import annotations

import pytest

from cowlab.model import state as F
from cowlab.model.layout import Bounds, Layout, LayoutOverflowError
from cowlab.model.page import NO_CPU, NO_HEAD, NO_SLOT


def machine(**bounds: int) -> F.FlatMachine:
    m = F.FlatMachine(Layout(Bounds(**bounds)))
    F.init_machine(m, nodes=2, numa_balancing=True)
    return m


def test_a_new_page_reads_back_and_a_freed_pfn_is_reused() -> None:
    m = machine()
    pfn = F.alloc_pfn(m)
    assert pfn == 1  # pfn 0 is the shared zero page
    F.init_page(m, pfn, node=1, content=7, refcount=1)
    assert (F.page_count(m, pfn), F.page_to_nid(m, pfn), F.page_content(m, pfn)) == (1, 1, 7)
    assert F.PageAnon(m, pfn) and not F.PageAnonExclusive(m, pfn)
    assert F.page_swap_slot(m, pfn) == NO_SLOT and F.page_lru_batch(m, pfn) == NO_CPU
    assert F.compound_head(m, pfn) == pfn
    F.SetPageAnonExclusive(m, pfn)
    assert F.PageAnonExclusive(m, pfn)
    assert F.page_ref_add(m, pfn, 1024) == 1025
    assert F.alloc_pfn(m) == 2
    F.free_pfn(m, pfn)
    assert not F.page_in_use(m, pfn) and F.alloc_pfn(m) == 1
    assert list(F.pfns_in_use(m)) == []


def test_a_copy_is_private() -> None:
    m = machine()
    pid = F.new_process(m, "P")
    F.set_pte_at(m, pid, 0x100, 0x1003)
    c = m.copy()
    F.set_pte_at(c, pid, 0x100, 0)
    assert F.pte_at(m, pid, 0x100) == 0x1003 and F.pte_at(c, pid, 0x100) == 0
    assert m != c and m.copy() == m and hash(m.copy()) == hash(m)


def test_page_table_walk_and_pte_table_bits() -> None:
    m = machine()
    pid = F.new_process(m, "P")
    for vpn in (0x105, 0x101):
        F.set_pte_at(m, pid, vpn, 1 << 12 | 1)
    assert list(F.mapped_vpns(m, pid)) == [0x101, 0x105]
    assert F.pte_at(m, pid, 0x10) == 0  # outside the layout: nothing mapped
    F.set_pmd_pte_table(m, pid, 0x105, True)
    assert F.pmd_has_pte_table(m, pid, 0x104) and not F.pmd_has_pte_table(m, pid, 0x101)


def test_vmas_stay_in_address_order() -> None:
    m = machine()
    pid = F.new_process(m, "P")
    F.insert_vma(m, pid, 0, start=0x100, npages=2, flags=3, name="a")
    F.insert_vma(m, pid, 1, start=0x110, npages=1, flags=3, name="c")
    F.insert_vma(m, pid, 1, start=0x108, npages=4, flags=1, name="b", file="f", pgoff=1)
    assert [F.vma_name(m, pid, s) for s in range(F.nr_vmas(m, pid))] == ["a", "b", "c"]
    assert F.vma_lookup(m, pid, 0x10B) == 1 and F.vma_lookup(m, pid, 0x10C) == -1
    assert (F.vma_file(m, pid, 1), F.vma_pgoff(m, pid, 1), F.vma_end(m, pid, 1)) == ("f", 1, 0x10C)
    F.remove_vma(m, pid, 0)
    assert [F.vma_name(m, pid, s) for s in range(F.nr_vmas(m, pid))] == ["b", "c"]


def test_frames_call_and_return() -> None:
    m = machine()
    ti = F.new_thread(m, "T1", 0, 0, -1)
    F.push_frame(m, ti, stage=3, kind=1, locals_=(0, 0x100, 1), holds=(5,))
    F.push_frame(m, ti, stage=4, kind=2, locals_=(9,))
    assert F.task_depth(m, ti) == 2 and F.frame_stage(m, ti) == 4
    assert F.frame_locals(m, ti, 3, depth=0) == (0, 0x100, 1) and F.frame_holds(m, ti, 0) == (5,)
    F.pop_frame(m, ti, result=11)
    assert F.task_depth(m, ti) == 1 and F.frame_result(m, ti) == 11
    F.set_frame_locals(m, ti, (1, 2, 3))
    assert F.frame_locals(m, ti, 3) == (1, 2, 3)
    F.pop_frame(m, ti)
    assert F.task_depth(m, ti) == 0


def test_swap_slots_refs_and_files() -> None:
    m = machine()
    slot = F.get_swap_slot(m)
    F.swap_count_add(m, slot, 2)
    F.set_swap_cache_pfn(m, slot, 3)
    assert (F.swap_count(m, slot), F.swap_cache_pfn(m, slot), F.swap_content(m, slot)) == (2, 3, -1)
    assert F.get_swap_slot(m) == slot + 1
    F.free_swap_slot(m, slot)
    assert not F.swap_in_use(m, slot)
    i = F.add_ref(
        m,
        name="dma",
        kind=F.REF_PIN,
        holder="device",
        pid=0,
        vpn=0x100,
        pfn=2,
        write=True,
        longterm=True,
        refs=1024,
    )
    assert F.ref_named(m, "dma") == i and F.ref_pfn(m, i) == 2 and F.ref_named(m, "x") == -1
    F.drop_ref(m, i)
    assert not F.ref_in_use(m, i)
    f = F.add_file(m, "file", (4, 5), (8, 9))
    assert (F.file_name(m, f), F.file_page_pfn(m, f, 1), F.file_original(m, f, 0)) == ("file", 5, 8)
    assert F.page_cache_owner(m, 5) == (f, 1) and F.page_cache_owner(m, 6) is None


def test_a_removed_ref_keeps_the_others_in_the_order_taken() -> None:
    m = machine(refs=3)
    for name in ("a", "b", "c"):
        F.add_ref(
            m,
            name=name,
            kind=F.REF_GET,
            holder="pipe",
            pid=0,
            vpn=0,
            pfn=1,
            write=False,
            longterm=False,
            refs=1,
        )
    F.remove_ref(m, F.ref_named(m, "a"))
    F.add_ref(
        m, name="d", kind=F.REF_GET, holder="pipe", pid=0, vpn=0, pfn=1, write=False, longterm=False, refs=1
    )
    assert [F.ref_named(m, n) for n in ("b", "c", "d", "a")] == [0, 1, 2, -1]


def test_pte_tables_refs_in_use_and_remove_thread() -> None:
    """The accessors fork, munmap, mremap and exit use: the PMD ranges holding a PTE
    table, the references held (entry order), and a task going (later ones move down,
    as the record machine's thread tuple did)."""
    m = machine(vpns=32)
    pid = F.new_process(m, "P")
    F.set_pmd_pte_table(m, pid, 0x109, True)
    F.set_pmd_pte_table(m, pid, 0x101, True)
    assert list(F.pmd_pte_tables(m, pid)) == [0x100, 0x108]
    for i, name in enumerate(("a", "b")):
        F.add_ref(
            m,
            name=name,
            kind=F.REF_GET,
            holder="pipe",
            pid=i,
            vpn=0,
            pfn=0,
            write=False,
            longterm=False,
            refs=1,
        )
    F.drop_ref(m, 0)
    assert [(F.ref_name(m, i), F.ref_holder(m, i), F.ref_pid(m, i)) for i in F.refs_in_use(m)] == [
        ("b", "pipe", 1)
    ]
    for name, node in (("T0", 0), ("T1", 1), ("T2", 0)):
        F.new_thread(m, name, pid, node, -1)
    F.push_frame(m, 2, stage=3, kind=1, locals_=(7,))
    expect = m.copy()
    F.clear_thread(expect, 1)
    F.clear_thread(expect, 2)
    F.set_task(expect, 1, "T2", pid, 0, -1)
    F.push_frame(expect, 1, stage=3, kind=1, locals_=(7,))
    F.set_nr_threads(expect, 2)
    F.remove_thread(m, 1)
    assert m == expect and F.task_cpu(m, 1) == F.task_node(m, 1) == 0


@pytest.mark.parametrize(
    ("bound", "grow"),
    [
        (
            "pages",
            lambda m: [F.init_page(m, F.alloc_pfn(m), node=0, content=0, refcount=1) for _ in range(4)],
        ),
        ("vpns", lambda m: F.set_pte_at(m, F.new_process(m, "P"), 0x100 + 8, 1)),
        (
            "frames",
            lambda m: [
                F.push_frame(m, F.new_thread(m, "T", 0, 0, -1) if i == 0 else 0, 1, 1) for i in range(3)
            ],
        ),
        (
            "refs",
            lambda m: [
                F.add_ref(
                    m,
                    name=str(i),
                    kind=1,
                    holder="device",
                    pid=0,
                    vpn=0,
                    pfn=0,
                    write=True,
                    longterm=True,
                    refs=1,
                )
                for i in range(2)
            ],
        ),
        ("slots", lambda m: [F.get_swap_slot(m) for _ in range(2)]),
        (
            "vmas",
            lambda m: (
                [F.insert_vma(m, 0, 0, start=0x100, npages=1, flags=0, name="x") for _ in range(3)]
                if F.new_process(m, "P") == 0
                else None
            ),
        ),
    ],
)
def test_overflowing_a_bound_names_it(bound: str, grow: object) -> None:
    m = machine(pages=3, vpns=8, frames=2, refs=1, slots=1, vmas=2)
    with pytest.raises(LayoutOverflowError) as exc:
        grow(m)  # type: ignore[operator]
    assert exc.value.bound == bound
    assert f"raise bounds.{bound}" in str(exc.value)


def test_bounds_are_validated() -> None:
    with pytest.raises(ValueError, match=r"bounds\.pages"):
        Bounds(pages=-1)
    with pytest.raises(ValueError, match="multiple"):
        Bounds(vpns=6)
    assert Layout(Bounds()).size > 0
    assert NO_HEAD == -1


def test_a_scenario_raises_a_bound_and_a_bad_one_is_refused(tmp_path: object) -> None:
    from pathlib import Path

    from cowlab.engine.bounds import bounds_for
    from cowlab.scenario import ScenarioError, load_scenario

    text = (
        "name: b\nbounds: {pages: 40, vmas: 9}\nprocesses:\n  - name: P\n    threads: [{name: T1}]\n"
        "steps:\n  - T1: {mmap: buf}\n"
    )
    path = Path(str(tmp_path)) / "b.yaml"
    path.write_text(text)
    b = bounds_for(load_scenario(path))
    assert (b.pages, b.vmas) == (40, 9)
    path.write_text(text.replace("vmas: 9", "vmas: 9, frame: 2"))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert exc.value.field == "bounds.frame" and exc.value.line == 2


def test_a_run_that_outgrows_its_bounds_is_bad_input(tmp_path: object) -> None:
    from pathlib import Path

    from cowlab.engine.run import run_scenario
    from cowlab.history import kernel_at
    from cowlab.scenario import ScenarioError, load_scenario

    path = Path(str(tmp_path)) / "tiny.yaml"
    path.write_text(
        "name: tiny\nbounds: {pages: 3}\nprocesses:\n  - name: P\n    threads: [{name: T1}]\n"
        "steps:\n  - T1: {mmap: buf, pages: 4}\n"
        + "".join(f'  - T1: {{write: "buf[{i}]"}}\n' for i in range(3))
    )
    with pytest.raises(ScenarioError) as exc:
        run_scenario(load_scenario(path), kernel_at("v6.2"))
    assert exc.value.field == "bounds.pages" and "raise bounds.pages" in exc.value.message
