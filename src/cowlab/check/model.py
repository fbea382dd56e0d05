"""The checker's view of a configuration: states, enabled transitions, and the step.

It drives the same kernel step function as ``cowlab run`` (start/advance/apply)
and the same promise checks; it has no kernel behaviour of its own.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

from cowlab.check.vector_pack import pack_vector, unpack_vector
from cowlab.engine.boot import boot, file_tokens, thread_index
from cowlab.engine.bounds import bounds_error
from cowlab.engine.translate import thread_op
from cowlab.history import Kernel
from cowlab.invariants import (
    MODEL_SANITY,
    Spec,
    Violation,
    check_files,
    check_pins,
    check_sanity,
    initial_spec,
    observe,
)
from cowlab.kernel.context import Ctx
from cowlab.kernel.frames import STAGE_CHOICES, top
from cowlab.kernel.step import (
    DmaReadOp,
    DmaWriteOp,
    LruDrainOp,
    MoveOp,
    ReclaimOp,
    advance,
    apply,
    blocked,
    mmap_write_holder,
    start,
)
from cowlab.model import KSWAPD, NO_CPU, NO_NODE, ZERO_PFN, Machine
from cowlab.model import state as S
from cowlab.model.layout import Layout, LayoutOverflowError
from cowlab.model.pte import pte_pfn, pte_present
from cowlab.model.state import FlatMachine
from cowlab.model.state.records import RecordMachine
from cowlab.scenario import CheckConfig, ScenarioError
from cowlab.scenario.spec import Step

#: budget slots, in CheckState.budgets order
BUDGETS = ("numa_scan", "move", "lru_drain", "reclaim", "dma_write", "dma_read")
SCAN, MOVE, DRAIN, RECLAIM, DMA_WRITE, DMA_READ = range(6)

T = TypeVar("T")


class Transition(NamedTuple):
    """One atomic step: ``kind`` is ``thread`` (advance, or start the next program
    action), ``numa_scan``, ``move``, ``lru_drain``, ``reclaim``, ``dma_write`` or
    ``dma_read``; ``actor`` the thread or reference; ``arg`` a node or (pid, vpn)."""

    kind: str
    actor: str = ""
    arg: object = None
    choice: str = ""


class CheckState(NamedTuple):
    machine: Machine
    spec: Spec
    #: per thread with a program: (name, index of its next action)
    pcs: tuple[tuple[str, int], ...]
    budgets: tuple[int, ...]


class Packed(NamedTuple):
    """A state as it waits in the frontier: its vector packed (``vector_pack``: mostly
    zeros and small numbers, it shrinks about seven times), the rest shared with equal
    entries."""

    vector: bytes
    layout: Layout
    spec: Spec
    pcs: tuple[tuple[str, int], ...]
    budgets: tuple[int, ...]


class CheckModel:
    """Configuration + kernel: initial state, transitions, step."""

    def __init__(
        self, config: CheckConfig, kernel: Kernel, *, sanity: bool = True, symmetry: bool = True
    ) -> None:
        self.config = config
        self.kernel = kernel
        self.sanity = sanity
        self.programs: dict[str, tuple[Step, ...]] = dict(config.programs)
        self.choices = config.budgets.kernel_choices
        #: transitions the partial-order reduction left out (statistics)
        self.stats_reduced = 0
        self.symmetry = symmetry_classes(config) if symmetry else ()
        #: one object for each distinct spec, program counters and budgets in the frontier
        self._shared: dict[object, object] = {}

    def initial(self) -> CheckState:
        m = boot(self.config.scenario, [s.action for prog in self.programs.values() for s in prog])
        b = self.config.budgets
        budgets = (b.numa_scan, b.move, b.lru_drain, b.reclaim, b.dma_write, b.dma_read)
        pcs = tuple(sorted((name, 0) for name in self.programs))
        return CheckState(m, initial_spec(len(m.processes), file_tokens(m)), pcs, budgets)

    # --- states waiting in a frontier ----------------------------------------------

    def pack(self, s: CheckState) -> Packed:
        m = s.machine
        assert isinstance(m, FlatMachine)
        return Packed(
            pack_vector(m.vector), m.L, self.share(s.spec), self.share(s.pcs), self.share(s.budgets)
        )

    def share(self, value: T) -> T:
        """An equal object already waiting, if any: a state's ghost spec, program counters
        and budgets take few values, and a frontier of 65,536 states would otherwise
        keep as many copies of each (a kilobyte a state)."""
        shared: T = self._shared.setdefault(value, value)  # type: ignore[assignment]
        if len(self._shared) > 1 << 16:
            self._shared.clear()
        return shared

    def unpack(self, packed: Packed) -> CheckState:
        layout = packed.layout
        machine = RecordMachine(layout, unpack_vector(packed.vector, layout.size))
        return CheckState(machine, packed.spec, packed.pcs, packed.budgets)  # type: ignore[arg-type]

    # --- enabled transitions ---------------------------------------------------------

    def transitions(self, s: CheckState) -> list[Transition]:
        m = s.machine
        out: list[Transition] = []
        pcs = dict(s.pcs)
        for ti in range(S.nr_threads(m)):
            name = S.task_name(m, ti)
            if S.task_depth(m, ti):
                if blocked(m, ti) is None:
                    out.append(Transition("thread", name))
                    if self.choices:
                        for choice in STAGE_CHOICES.get(top(m, ti).stage, ()):
                            out.append(Transition("thread", name, None, choice))
                continue
            if name == KSWAPD:
                if s.budgets[RECLAIM]:
                    out.extend(Transition("reclaim", KSWAPD, target) for target in _reclaimable(m))
                continue
            program = self.programs.get(name, ())
            pc = pcs.get(name, 0)
            if pc < len(program) and self._can_start(m, ti, program[pc]):
                out.append(Transition("thread", name))
            # task_numa_work() needs the mmap_lock for reading, as a started scan would
            if s.budgets[SCAN] and S.numa_balancing_enabled(m) and mmap_write_holder(m, ti) is None:
                out.append(Transition("numa_scan", name))
        if s.budgets[MOVE]:
            for ti in range(S.nr_threads(m)):
                name = S.task_name(m, ti)
                if name != KSWAPD and S.task_affinity(m, ti) == NO_NODE:
                    out.extend(
                        Transition("move", name, node)
                        for node in range(S.nr_node_ids(m))
                        if node != S.task_node(m, ti)
                    )
        if s.budgets[DRAIN] and any(S.page_lru_batch(m, pfn) != NO_CPU for pfn in S.pfns_in_use(m)):
            out.append(Transition("lru_drain"))
        for i in range(m.L.bounds.refs):  # type: ignore[attr-defined]
            if not S.ref_in_use(m, i):
                continue
            name_sym, _, holder, _, _, _, write, _, _ = S.ref_fields(m, i)
            if m.L.symbols.name(holder) != "device":  # type: ignore[attr-defined]
                continue
            name = m.L.symbols.name(name_sym)  # type: ignore[attr-defined]
            if s.budgets[DMA_WRITE] and write:
                out.append(Transition("dma_write", name))
            if s.budgets[DMA_READ]:
                out.append(Transition("dma_read", name))
        return out

    def _can_start(self, m: Machine, ti: int, step: Step) -> bool:
        """An action whose names do not resolve yet (a region another thread has still
        to map, a pin not yet taken) waits, as the thread would."""
        ctx = Ctx(self.kernel, trace=False)
        try:
            m2 = start(ctx, m.copy(), ti, thread_op(m, ti, step.action))
        except ScenarioError:
            return False
        return blocked(m2, ti) is None

    # --- the step ----------------------------------------------------------------------

    def step(
        self, s: CheckState, t: Transition, *, trace: bool = False
    ) -> tuple[CheckState, list[Violation], Ctx]:
        try:
            return self._step(s, t, trace)
        except LayoutOverflowError as exc:
            raise bounds_error(exc, self.config.scenario) from None

    def _step(self, s: CheckState, t: Transition, trace: bool) -> tuple[CheckState, list[Violation], Ctx]:
        ctx = Ctx(self.kernel, trace=trace, choice=t.choice)
        m = s.machine.copy()
        budgets = s.budgets
        pcs = s.pcs
        kind = t.kind
        if kind == "thread":
            ti = thread_index(m, t.actor)
            assert ti is not None
            if not S.task_depth(m, ti):
                pc = dict(pcs)[t.actor]
                m = start(ctx, m, ti, thread_op(m, ti, self.programs[t.actor][pc].action))
                pcs = tuple((n, i + 1 if n == t.actor else i) for n, i in pcs)
            m = advance(ctx, m, ti)
        elif kind == "numa_scan":
            from cowlab.kernel.numa import task_numa_work

            ti = thread_index(m, t.actor)
            assert ti is not None
            m = task_numa_work(ctx, m, ti)
            budgets = _spend(budgets, SCAN)
        elif kind == "move":
            ti = thread_index(m, t.actor)
            assert ti is not None and isinstance(t.arg, int)
            m = apply(ctx, m, MoveOp(ti, t.arg))
            budgets = _spend(budgets, MOVE)
        elif kind == "lru_drain":
            m = apply(ctx, m, LruDrainOp(None))
            budgets = _spend(budgets, DRAIN)
        elif kind == "reclaim":
            pid, vpn = t.arg  # type: ignore[misc]
            pte = S.pte_at(m, pid, vpn)
            assert pte_present(pte)
            ti = thread_index(m, KSWAPD)
            assert ti is not None
            m = advance(ctx, start(ctx, m, ti, ReclaimOp(pte_pfn(pte))), ti)
            budgets = _spend(budgets, RECLAIM)
        elif kind == "dma_write":
            m = apply(ctx, m, DmaWriteOp(t.actor))
            budgets = _spend(budgets, DMA_WRITE)
        elif kind == "dma_read":
            m = apply(ctx, m, DmaReadOp(t.actor))
            budgets = _spend(budgets, DMA_READ)
        spec, found = observe(s.spec, m, ctx.events)
        found.extend(check_pins(spec, m))
        found.extend(check_files(spec, m))
        if isinstance(m, RecordMachine):
            m.drop_views()
        return CheckState(m, spec, pcs, budgets), found, ctx

    def sanity_of(self, s: CheckState) -> list[Violation]:
        """Model-sanity failures of a state, checked once per distinct state."""
        if not self.sanity:
            return []
        return [Violation(MODEL_SANITY, f"cowlab bug: {p}", p) for p in check_sanity(s.machine)]


def symmetry_classes(config: CheckConfig) -> tuple[tuple[str, ...], ...]:
    """Threads declared in one process with equal programs and equal affinity are
    interchangeable (their names appear nowhere else in a state)."""
    programs = dict(config.programs)
    classes: dict[tuple[object, ...], list[str]] = {}
    for proc in config.scenario.processes:
        for t in proc.threads:
            actions = tuple(s.action for s in programs.get(t.name, ()))
            classes.setdefault((proc.name, t.affinity, actions), []).append(t.name)
    return tuple(tuple(sorted(names)) for names in classes.values() if len(names) > 1)


def _spend(budgets: tuple[int, ...], slot: int) -> tuple[int, ...]:
    return (*budgets[:slot], budgets[slot] - 1, *budgets[slot + 1 :])


def _reclaimable(m: Machine) -> list[tuple[int, int]]:
    """One mapped address per anon page on the LRU (kswapd picks pages, not addresses)."""
    seen: set[int] = set()
    out = []
    for pid in range(S.nr_processes(m)):
        for vpn in S.mapped_vpns(m, pid):
            pte = S.pte_at(m, pid, vpn)
            if not pte_present(pte):
                continue
            pfn = pte_pfn(pte)
            if pfn != ZERO_PFN and pfn not in seen and S.page_in_use(m, pfn) and S.PageLRU(m, pfn):
                seen.add(pfn)
                out.append((pid, vpn))
    return out
