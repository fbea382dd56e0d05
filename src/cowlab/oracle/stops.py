"""The stops of the kernels built here: where each of the model's stages is held in the
real kernel (issue 15; ``kpatch/stops-BRANCH.patch``).

A stop named after a model stage holds a task where the model's task is "about to run
that stage's body": a test arms ``/sys/kernel/debug/cowlab/hold`` with ``arm STAGE TID
NTH``, sees the task in ``parked``, and lets it go with ``release TID``.  One table here,
one patch per source branch; ``tests/oracle/test_stops_patch.py`` checks that the stage
names compiled into each patch are ``supported(branch)``.
"""

from __future__ import annotations

from dataclasses import dataclass

BRANCHES: tuple[str, ...] = ("5.10", "6.1", "6.12")


@dataclass(frozen=True)
class Stop:
    """One stage: its injection point per branch, or why it has none."""

    stage: str
    #: branch -> "file function(), where" (the branches it is placed on)
    points: dict[str, str]
    #: branch -> why it is not placed there (every branch not in points)
    left_out: dict[str, str]
    #: the task parks asleep (sleepable point) or busy-waits (under a spinlock)
    busy_wait: bool = False


_GUP_FAST = (
    "GUP-fast walks the page tables with IRQs off: a parked walker would never answer the "
    "TLB-flush IPI that fork's or the scanner's write-protect sends, a deadlock"
)
_HUGE_510 = (
    "5.10's do_huge_pmd_numa_page() takes the THP's page lock and its anon_vma lock before "
    "it drops the PMD lock for migrate_misplaced_transhuge_page(), which the model's stage "
    "does not hold: a task parked there would block every other fault on that THP on the "
    "page lock, which the model lets through (c5b5a3dd2c1f, 5.14, made the PMD path drop "
    "everything first, as the 6.x stops use)"
)
_FORK = "copy_present_pte(), between the pin check ({check}) and ptep_set_wrprotect()"

STOPS: tuple[Stop, ...] = (
    Stop(
        "migrate.unmapped",
        {
            "5.10": "mm/migrate.c __unmap_and_move(), after try_to_unmap() left the page "
            "unmapped, before move_to_new_page()",
            "6.1": "mm/migrate.c __migrate_folio_unmap(), after try_to_migrate() left the "
            "folio unmapped, before it returns MIGRATEPAGE_UNMAP to the move",
            "6.12": "mm/migrate.c migrate_folio_move(), for a folio that was mapped (after "
            "migrate_pages_batch()'s try_to_unmap_flush()), before move_to_new_folio()",
        },
        {},
    ),
    Stop(
        "do_numa_page.target_chosen",
        {
            "5.10": "mm/memory.c do_numa_page(), after pte_unmap_unlock(), before migrate_misplaced_page()",
            "6.1": "mm/memory.c do_numa_page(), after pte_unmap_unlock(), before migrate_misplaced_page()",
            "6.12": "mm/memory.c do_numa_page(), after pte_unmap_unlock() (the folio "
            "isolated), before migrate_misplaced_folio()",
        },
        {},
    ),
    Stop(
        "do_huge_pmd_numa_page.target_chosen",
        {
            "6.1": "mm/huge_memory.c do_huge_pmd_numa_page(), after spin_unlock(ptl), "
            "before migrate_misplaced_page()",
            "6.12": "mm/huge_memory.c do_huge_pmd_numa_page(), after spin_unlock(ptl) "
            "(the folio isolated), before migrate_misplaced_folio()",
        },
        {"5.10": _HUGE_510},
    ),
    Stop(
        "gup.follow_page",
        {
            b: "mm/gup.c __get_user_pages(), before each follow_page_mask() (the retry "
            "after faultin_page() too)"
            for b in BRANCHES
        },
        {},
    ),
    Stop(
        "gup.faultin",
        {b: "mm/gup.c __get_user_pages(), before faultin_page()" for b in BRANCHES},
        {},
    ),
    Stop(
        "reclaim.swapcache",
        {
            "5.10": "mm/vmscan.c shrink_page_list(), an anon page in the swap cache "
            "(add_to_swap() done) and still mapped, before try_to_unmap()",
            "6.1": "mm/vmscan.c shrink_folio_list(), an anon folio in the swap cache "
            "(add_to_swap() done) and still mapped, before try_to_unmap()",
            "6.12": "mm/vmscan.c shrink_folio_list(), an anon folio in the swap cache "
            "(add_to_swap() done) and still mapped, before try_to_unmap()",
        },
        {},
    ),
    Stop(
        "fork.copy_page_range",
        {
            "5.10": "mm/memory.c "
            + _FORK.format(check="copy_present_page()")
            + ", a writable COW PTE; per PTE, both PTLs held (busy-waits)",
            "6.1": "mm/memory.c "
            + _FORK.format(check="page_try_dup_anon_rmap()")
            + ", a writable COW PTE; per PTE, both PTLs held (busy-waits)",
            "6.12": "mm/memory.c __copy_present_ptes(), between the pin check "
            "(folio_try_dup_anon_rmap_pte[s]()) and wrprotect_ptes(), a writable COW PTE; "
            "per PTE batch, both PTLs held (busy-waits)",
        },
        {},
        busy_wait=True,
    ),
    Stop("gup.fast", {}, {b: _GUP_FAST for b in BRANCHES}),
)

BY_STAGE: dict[str, Stop] = {s.stage: s for s in STOPS}


def check_branch(branch: str) -> None:
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch {branch!r}: one of {', '.join(BRANCHES)}")


def supported(branch: str) -> tuple[str, ...]:
    """The stages the branch's stops patch places, in the order ``stages`` prints them."""
    check_branch(branch)
    return tuple(s.stage for s in STOPS if branch in s.points)


def table(branch: str) -> list[tuple[str, bool, str]]:
    """(stage, placed?, injection point or why not) for every stage of the table."""
    check_branch(branch)
    return [
        (s.stage, True, s.points[branch]) if branch in s.points else (s.stage, False, s.left_out[branch])
        for s in STOPS
    ]
