"""get_user_pages / pin_user_pages (mm/gup.c): the fast path, the slow path's
follow_page / faultin_page / retry loop, and unpin.

The slow path drops the page-table lock between looking up the PTE and faulting
it in, and again before retrying: each is a stage, so other actors interleave.
"""

from __future__ import annotations

from typing import NamedTuple

from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import goto, pop, stage, top
from cowlab.kernel.huge_memory import pmd_base, pmd_mkyoung
from cowlab.kernel.memory import handle_mm_fault
from cowlab.kernel.pages import folio_pfn, no_struct_page, put_page
from cowlab.kernel.vma import vma_file_fs, vma_needs_dirty_tracking
from cowlab.model import GUP_PIN_COUNTING_BIAS, ZERO_PFN, Frame, Machine, Vma
from cowlab.model import state as S
from cowlab.model.events import CallReturned, RefDropped, RefTaken
from cowlab.model.pte import (
    pte_dirty,
    pte_pfn,
    pte_pmd_mapped,
    pte_present,
    pte_protnone,
    pte_soft_dirty,
    pte_t,
    pte_write,
)
from cowlab.model.state.convert import vma_at
from cowlab.model.swap import fs_has_writeback

FOLL_WRITE = 0x01
FOLL_GET = 0x04
FOLL_FORCE = 0x10
FOLL_NUMA = 0x200
FOLL_COW = 0x4000
FOLL_LONGTERM = 0x10000
FOLL_PIN = 0x40000

FLAG_VALUES = {
    "FOLL_WRITE": FOLL_WRITE,
    "FOLL_GET": FOLL_GET,
    "FOLL_FORCE": FOLL_FORCE,
    "FOLL_LONGTERM": FOLL_LONGTERM,
    "FOLL_PIN": FOLL_PIN,
}


def flag_names(flags: int) -> str:
    names = [
        n for n, v in (*FLAG_VALUES.items(), ("FOLL_NUMA", FOLL_NUMA), ("FOLL_COW", FOLL_COW)) if flags & v
    ]
    return "|".join(names) or "0"


class GupLocals(NamedTuple):
    pid: int
    vpn: int
    flags: int
    name: str
    holder: str
    unshare: bool = False
    #: the flags the caller asked for (``flags`` gains internal FOLL_WRITE/FOLL_COW/FOLL_NUMA)
    requested: int = 0


def gup_frame(c: Ctx, pid: int, vpn: int, flags: int, name: str, holder: str, fast: bool) -> Frame:
    """The first frame of a GUP call.  Before eddb1c228f79 there is no FOLL_PIN: the
    driver takes a FOLL_GET reference, as drivers then did."""
    if flags & FOLL_PIN and not c.r.foll_pin:
        c.decide("pin_user_pages", "no FOLL_PIN in this kernel -> get_user_pages (FOLL_GET)", "foll_pin")
        flags = (flags & ~FOLL_PIN) | FOLL_GET
    loc = GupLocals(pid, vpn, flags, name, holder, requested=flags)
    return Frame(gup_entry_stage(fast), loc)


def gup_entry_stage(fast: bool) -> str:
    """The stage a GUP call starts at.  Its body runs in the same atomic step as the
    call's start, so a thread's arrivals there count from the second (a retry); a
    kernel's stop there counts the first call too (oracle.translate)."""
    return "gup.fast" if fast else "gup.follow_page"


def check_vma_flags(vma: Vma | None, flags: int) -> str | None:
    """Why GUP refuses this VMA (-EFAULT), or None."""
    if vma is None:
        return "no VMA"
    if flags & FOLL_WRITE:
        if not vma.writable and not (flags & FOLL_FORCE and vma.is_cow_mapping):
            return "write to a read-only VMA without FOLL_FORCE"
    elif not vma.accessible and not flags & FOLL_FORCE:
        return "read of an inaccessible VMA"
    return None


def gup_fast_folio_allowed(m: Machine, pfn: int) -> bool:
    """mm/gup.c gup_fast_folio_allowed() (a6e79df92e4a): GUP-fast may take a long-term
    write pin on an anon, hugetlb or shmem folio; a page-cache folio of another
    filesystem may need dirty tracking, which only the slow path can see."""
    if S.PageAnon(m, pfn) or S.PageHuge(m, pfn):
        return True
    owner = S.page_cache_owner(m, pfn)
    return owner is not None and not fs_has_writeback(S.file_fs(m, owner[0]))


def _take_reference(c: Ctx, m: Machine, ti: int, loc: GupLocals, pfn: int) -> Machine:
    pin = bool(loc.flags & FOLL_PIN)
    if pin and pfn == ZERO_PFN and c.r.zero_page_pin_fails:
        # 6.1.130-6.1.134: the backport of c8070b787519 returns 0 from try_grab_page()
        # for the zero page, which in 6.1 means failure (on x86 GUP-fast leaves the
        # zero page's special PTE to the slow path, so every pin of it ends here)
        c.decide(
            "try_grab_page",
            f"{loc.name}: FOLL_PIN of the shared zero page -> refused, -ENOMEM",
            "zero_page_pin_fails",
        )
        return pop(m, ti, "enomem")
    special = no_struct_page(m, pfn)
    large = not special and (S.PageHuge(m, pfn) or S.PageTransCompound(m, pfn))
    # 3faa52c03f44: a small page takes the bias; a large folio (47e29d32afba) one ref
    # plus its pincount, both on the folio
    refs = GUP_PIN_COUNTING_BIAS if (pin and c.r.pin_bias and not large) else 1
    if not special:
        head = folio_pfn(m, pfn)
        S.page_ref_add(m, head, refs)
        if pin:
            S.folio_pincount_add(m, head, 1)
    if pin and c.r.mm_has_pinned and not S.mm_has_pinned(m, loc.pid):
        S.set_mm_has_pinned(m, loc.pid)
    # the reference is writable if the caller asked for write access (a COW break
    # forced by 17839856fd58 does not make a R/O pin writable; Dirty COW's dropped
    # FOLL_WRITE does make a forced write read-only)
    write = bool(loc.requested & loc.flags & FOLL_WRITE)
    S.add_ref(
        m,
        name=loc.name,
        kind=S.REF_PIN if pin else S.REF_GET,
        holder=loc.holder,
        pid=loc.pid,
        vpn=loc.vpn,
        pfn=pfn,
        write=write,
        longterm=bool(loc.flags & FOLL_LONGTERM),
        refs=refs,
    )
    c.decide(
        "pin_user_pages" if pin else "get_user_pages",
        f"{loc.name}: {'pin' if pin else 'reference'} on pfn {pfn} (+{refs} refcount)",
        "pin_bias" if pin else "",
    )
    c.emit(RefTaken(loc.name, loc.pid, loc.vpn, pfn, write, "pin" if pin else "get", loc.holder))
    return pop(m, ti, "done")


@stage("gup.returns")
def gup_returns(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """The caller of pin_user_pages() (a driver) sees what it returned."""
    op = frame.locals
    call = ("pin_user_pages" if op.flags & FOLL_PIN else "get_user_pages") + ("_fast" if op.fast else "")
    result = frame.result or "efault"
    c.emit(CallReturned(op.pid, call, op.name, result, op.expect))
    return pop(m, ti, result)


@stage("gup.fast")
def gup_fast(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """Lockless walk: take the page only if the PTE already allows the access, else
    fall back to the slow path (PROT_NONE PTEs always fall back)."""
    loc: GupLocals = frame.locals  # type: ignore[assignment]
    flags = loc.flags
    if c.r.gup_cow_break_on_read and flags & (FOLL_GET | FOLL_PIN) and not flags & FOLL_WRITE:
        c.decide(
            "gup_fast", "walk as a write: only writable PTEs are taken locklessly", "gup_cow_break_on_read"
        )
        flags |= FOLL_WRITE
    if c.r.gup_fast_fork_seq and S.write_protect_seq(m, loc.pid) % 2:
        c.decide(
            "gup_fast",
            "write_protect_seq odd: fork is copying page tables -> fall back to the slow path",
            "gup_fast_fork_seq",
        )
        return goto(m, ti, "gup.follow_page")
    pte = S.pte_at(m, loc.pid, loc.vpn)
    pfn = pte_pfn(pte)
    why, rule = _gup_fast_fallback(c, m, pte, flags)
    if not why:
        c.decide("gup_fast", f"PTE allows the access -> take pfn {pfn} locklessly")
        return _take_reference(c, m, ti, loc, pfn)
    c.decide("gup_fast", f"{why} -> fall back to the slow path", rule)
    return goto(m, ti, "gup.follow_page")


def _gup_fast_fallback(c: Ctx, m: Machine, pte: pte_t, flags: int) -> tuple[str, str]:
    """Why GUP-fast leaves this PTE to the slow path, and the rule that says so ("" if
    it may take the page)."""
    if not (pte_present(pte) and not pte_protnone(pte) and (pte_write(pte) or not flags & FOLL_WRITE)):
        return "PTE does not allow the access", ""
    pfn = pte_pfn(pte)
    r = c.r
    if (
        r.ro_longterm_unshare_cow
        and flags & FOLL_LONGTERM
        and not pte_write(pte)
        and (no_struct_page(m, pfn) or not S.PageAnon(m, pfn))
    ):
        # 84209e87c696: gup_must_unshare() without the VMA: a R/O long-term pin of the
        # zero page or a page-cache page may be in a COW mapping, where it must be
        # unshared first, and only the slow path sees the VMA
        what = "the zero page" if no_struct_page(m, pfn) else "a page-cache page"
        return f"R/O long-term pin of {what}, which a COW mapping must unshare", "ro_longterm_unshare_cow"
    if (
        r.gup_fast_longterm_write_file_fallback
        and flags & FOLL_LONGTERM
        and flags & FOLL_WRITE
        and not gup_fast_folio_allowed(m, pfn)
    ):
        return (
            f"long-term write pin of page-cache pfn {pfn} of a file with writeback",
            "gup_fast_longterm_write_file_fallback",
        )
    if (
        pfn != ZERO_PFN
        and r.ro_pin_unshare
        and flags & FOLL_PIN
        and not flags & FOLL_WRITE
        and S.PageAnon(m, pfn)
        and not S.PageAnonExclusive(m, pfn)
    ):
        return "R/O pin of a possibly shared anon page", "ro_pin_unshare"
    return "", ""


@stage("gup.follow_page")
def follow_page(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """follow_page_pte(): take the page if the PTE allows the access, else fault."""
    loc: GupLocals = frame.locals  # type: ignore[assignment]
    fn = "follow_page_pte"
    r = c.r
    flags = loc.flags
    vma = vma_at(m, loc.pid, loc.vpn)
    refused = check_vma_flags(vma, flags)
    if refused is not None:
        c.decide("check_vma_flags", f"{refused} -> -EFAULT")
        return pop(m, ti, "efault")
    assert vma is not None
    if (
        r.longterm_write_pin_file_refused
        and flags & FOLL_LONGTERM
        and flags & FOLL_WRITE
        and vma_needs_dirty_tracking(m, vma)
    ):
        c.decide(
            "check_vma_flags",
            f"long-term write pin of {vma.name}, a shared mapping of a file on "
            f"{vma_file_fs(m, vma)}, which needs dirty tracking -> -EFAULT",
            "longterm_write_pin_file_refused",
        )
        return pop(m, ti, "efault")
    if (
        r.gup_cow_break_on_read
        and flags & (FOLL_GET | FOLL_PIN)
        and vma.is_cow_mapping
        and vma.writable
        and not flags & FOLL_WRITE
    ):
        c.decide(fn, "reference in a COW mapping -> break COW as for a write", "gup_cow_break_on_read")
        flags |= FOLL_WRITE
    if r.gup_numa_fault_explicit:
        # 7acddcc1ae30 (v6.6): only callers that pass FOLL_HONOR_NUMA_FAULT (KVM) take
        # hinting faults; none of the modeled callers does.  A write still faults on a
        # PROT_NONE entry (it is not writable), and the fault is the hinting fault.
        pass
    elif not flags & FOLL_FORCE or r.gup_honor_numa_fault:
        # up to v6.4 FOLL_FORCE meant "ignore NUMA hinting" (FOLL_NUMA, then
        # gup_can_follow_protnone()); d74943a2f3cd (v6.5) honours hinting faults for all
        flags |= FOLL_NUMA
    pte = S.pte_at(m, loc.pid, loc.vpn)
    need = None
    unshare = False
    pfn = pte_pfn(pte)
    if not pte_present(pte):
        need = "PTE not present"
    elif pte_protnone(pte) and flags & FOLL_NUMA and vma.accessible:
        # gup_can_follow_protnone(): hinting faults do not apply in a PROT_NONE VMA
        # (d74943a2f3cd; before it FOLL_NUMA never met an inaccessible VMA: only
        # FOLL_FORCE reaches one, and FOLL_FORCE cleared FOLL_NUMA)
        need = "PROT_NONE PTE and FOLL_NUMA -> NUMA hinting fault"
    elif flags & FOLL_WRITE and not pte_write(pte):
        if _can_follow_write(c, m, vma, pte, flags):
            pass
        else:
            need = f"write access to a read-only {'PMD' if pte_pmd_mapped(pte) else 'PTE'}"
    elif (
        r.ro_longterm_unshare_cow
        and flags & FOLL_PIN
        and flags & FOLL_LONGTERM
        and not flags & FOLL_WRITE
        and vma.is_cow_mapping
        and (pfn == ZERO_PFN or not S.PageAnon(m, pfn))
    ):
        need = "R/O long-term pin of a shared page in a COW mapping -> unshare"
        unshare = True
        c.decide(fn, need, "ro_longterm_unshare_cow")
    elif (
        r.ro_pin_unshare
        and flags & FOLL_PIN
        and not flags & FOLL_WRITE
        and pfn != ZERO_PFN
        and S.PageAnon(m, pfn)
        and not S.PageAnonExclusive(m, pfn)
    ):
        need = "R/O pin of a possibly shared anon page -> unshare"
        unshare = True
        c.decide(fn, need, "ro_pin_unshare")
    if need is None:
        if pte_pmd_mapped(pte):
            m = touch_pmd(c, m, loc.pid, loc.vpn, write=bool(flags & FOLL_WRITE))
        if pte_protnone(pte):
            why = (
                "a PROT_NONE VMA"
                if flags & FOLL_NUMA
                else "no FOLL_HONOR_NUMA_FAULT"
                if r.gup_numa_fault_explicit
                else "FOLL_FORCE, no FOLL_NUMA"
            )
            c.decide(
                fn,
                f"take the page through the PROT_NONE PTE: {why}",
                "gup_numa_fault_explicit" if r.gup_numa_fault_explicit else "",
            )
        loc = loc._replace(flags=flags & ~FOLL_NUMA)
        return _take_reference(c, m, ti, loc, pfn)
    c.decide(fn, f"{need} -> faultin_page")
    return goto(m, ti, "gup.faultin", locals=loc._replace(flags=flags & ~FOLL_NUMA, unshare=unshare))


def touch_pmd(c: Ctx, m: Machine, pid: int, vpn: int, *, write: bool) -> Machine:
    """follow_trans_huge_pmd() with FOLL_TOUCH marks the PMD young, and dirty: on any
    access until a8f97366452e (v4.15), then only for FOLL_WRITE.  A dirty R/O PMD is
    what FOLL_COW takes as proof of a completed COW: Huge Dirty COW."""
    m, newly_dirty = pmd_mkyoung(m, pid, vpn, dirty=write or not c.r.thp_touch_dirty_write_only)
    if newly_dirty:
        c.decide(
            "touch_pmd",
            f"vpn {pmd_base(vpn):#x}: FOLL_TOUCH marks the PMD dirty" + ("" if write else " (a read access)"),
            "thp_touch_dirty_write_only",
        )
    return m


def _can_follow_write(c: Ctx, m: Machine, vma: Vma, pte: pte_t, flags: int) -> bool:
    """Accept a read-only PTE for a forced write?  4.9-5.19 (19be0eaffa3a): FOLL_FORCE,
    FOLL_COW and a dirty PTE; for a PMD only from 8310d48b125d (v4.10).  6.0+
    (5535be309971): an exclusive anon page in a private mapping without VM_WRITE."""
    if not flags & FOLL_FORCE:
        return False
    if pte_pmd_mapped(pte) and not c.r.thp_foll_cow and not c.r.no_foll_cow:
        if flags & FOLL_COW and pte_dirty(pte):
            c.decide(
                "follow_trans_huge_pmd", "FOLL_COW is not honoured for a PMD -> fault again", "thp_foll_cow"
            )
        return False
    if c.r.no_foll_cow:
        if vma.writable or not vma.is_cow_mapping or no_struct_page(m, pte_pfn(pte)):
            return False
        pfn = pte_pfn(pte)
        ok = (
            S.PageAnon(m, pfn)
            and S.PageAnonExclusive(m, pfn)
            and not (vma.soft_dirty_tracking and not pte_soft_dirty(pte))
        )
        c.decide("can_follow_write_pte", f"forced write, exclusive anon page: {ok}", "no_foll_cow")
        return ok
    if c.r.gup_foll_cow and flags & FOLL_COW and pte_dirty(pte):
        if pte_pmd_mapped(pte):
            c.decide("can_follow_write_pmd", "FOLL_FORCE|FOLL_COW and PMD dirty -> accept", "thp_foll_cow")
        else:
            c.decide("can_follow_write_pte", "FOLL_FORCE|FOLL_COW and PTE dirty -> accept", "gup_foll_cow")
        return True
    return False


@stage("gup.faultin", choices=("trylock_fail",))
def faultin_page(c: Ctx, m: Machine, ti: int, frame: Frame) -> Machine:
    """handle_mm_fault() for the access GUP wants, then retry follow_page."""
    loc: GupLocals = frame.locals  # type: ignore[assignment]
    m = goto(m, ti, "gup.follow_page", result="")
    m, status = handle_mm_fault(
        c, m, ti, loc.pid, loc.vpn, write=bool(loc.flags & FOLL_WRITE), unshare=loc.unshare
    )
    if status == "write":
        m = _after_cow_fault(c, m, ti, loc)
    return m


def _after_cow_fault(c: Ctx, m: Machine, ti: int, loc: GupLocals) -> Machine:
    """VM_FAULT_WRITE on a VMA without VM_WRITE: <= v4.8 GUP dropped FOLL_WRITE and
    retried as a read (Dirty COW); 19be0eaffa3a sets FOLL_COW instead."""
    vma = vma_at(m, loc.pid, loc.vpn)
    if vma is None or vma.writable or c.r.no_foll_cow:
        return m
    frame = top(m, ti)
    if c.r.gup_foll_cow:
        c.decide("faultin_page", "COW fault on !VM_WRITE -> set FOLL_COW", "gup_foll_cow")
        return goto(m, ti, "gup.follow_page", locals=loc._replace(flags=loc.flags | FOLL_COW))
    c.decide("faultin_page", "COW fault on !VM_WRITE -> drop FOLL_WRITE and retry as a read", "gup_foll_cow")
    return goto(m, ti, frame.stage, locals=loc._replace(flags=loc.flags & ~FOLL_WRITE))


def unpin_user_page(c: Ctx, m: Machine, name: str) -> Machine:
    """Drop a GUP reference: unpin_user_page() for a pin, put_page() for a FOLL_GET."""
    index = S.ref_named(m, name)
    assert index >= 0
    _name, kind, _holder, _pid, _vpn, pfn, _write, _longterm, refs = S.ref_fields(m, index)
    S.remove_ref(m, index)
    if not no_struct_page(m, pfn):
        if kind == S.REF_PIN:
            S.folio_pincount_add(m, folio_pfn(m, pfn), -1)
        m = put_page(c, m, pfn, refs)
    c.note(
        "unpin_user_page" if kind == S.REF_PIN else "put_page",
        f"{name}: released pfn {pfn} (-{refs} refcount)",
    )
    c.emit(RefDropped(name))
    return m
