"""Replay: run a scenario's steps in order on one kernel, checking the promises."""

from __future__ import annotations

from dataclasses import dataclass, field

from cowlab.engine.boot import boot, file_tokens, thread_index
from cowlab.engine.bounds import bounds_error
from cowlab.engine.translate import outside_op, reclaim_op, thread_op
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
from cowlab.kernel.frames import CHOICES, STAGES, top
from cowlab.kernel.step import advance, apply, blocked, start
from cowlab.model import Machine
from cowlab.model import state as S
from cowlab.model.events import Event, Hung
from cowlab.model.layout import LayoutOverflowError
from cowlab.scenario import Reclaim, Resume, Scenario, ScenarioError, Step
from cowlab.scenario.actions import DmaRead, DmaWrite, Pin, Unpin
from cowlab.scenario.spec import DEVICE, KERNEL

#: a thread operation that needs more atomic steps than this is livelocked
MAX_STAGES_PER_STEP = 10_000


@dataclass
class StepRecord:
    """What one scenario step did: the kernel's events, where the actor stopped,
    and the promises first broken at this step."""

    index: int
    step: Step
    events: list[Event] = field(default_factory=list)
    stopped_at: str | None = None
    violations: list[Violation] = field(default_factory=list)
    #: the machine's state after the step (cowlab.report.state), when the replay was
    #: asked to keep it (``run --state``, ``run --json``)
    state: dict[str, dict[str, str]] | None = None


@dataclass
class RunResult:
    scenario: Scenario
    kernel: Kernel
    steps: list[StepRecord]
    machine: Machine
    #: every promise broken, in order, each instance once: (step index, violation)
    violations: list[tuple[int, Violation]]

    @property
    def holds(self) -> bool:
        return not self.violations

    @property
    def broken(self) -> list[str]:
        """The promises broken, in order of first breach, each once."""
        return list(dict.fromkeys(v.invariant for _, v in self.violations))

    @property
    def first(self) -> tuple[int, Violation] | None:
        return self.violations[0] if self.violations else None


class Replay:
    """Step-by-step replay; ``run_scenario`` drives it to the end."""

    def __init__(self, scenario: Scenario, kernel: Kernel, *, keep_state: bool = False) -> None:
        self.scenario = scenario
        self.kernel = kernel
        #: record the machine's state after each step (for reports; costs a little)
        self.keep_state = keep_state
        self.machine = boot(scenario)
        self.spec: Spec = initial_spec(len(self.machine.processes), file_tokens(self.machine))
        self.records: list[StepRecord] = []
        self.violations: list[tuple[int, Violation]] = []
        self._seen: set[tuple[str, str]] = set()
        #: actor -> stage it was told to stop at but finished before reaching
        self._missed_stop: dict[str, str] = {}
        #: pin names a pin step asked for and no unpin dropped: one that is not held is
        #: a pin the kernel refused (on some kernels), not a name the scenario got wrong
        self._pins_asked: set[str] = set()

    def _error(self, step: Step, message: str, field: str | None = None) -> ScenarioError:
        return ScenarioError(
            message, file=self.scenario.source, line=step.line, field=field or self._field(step)
        )

    def _field(self, step: Step) -> str:
        """The step's field in the scenario (looked up only for an error message)."""
        return f"steps[{self.scenario.steps.index(step)}].{step.actor}"

    def do(self, step: Step) -> StepRecord:
        """Run one scenario step (raises ScenarioError for an impossible step)."""
        record = StepRecord(len(self.records), step)
        ctx = Ctx(self.kernel, choice=step.choose or "")
        try:
            self._dispatch(ctx, step, record)
        except LayoutOverflowError as exc:
            raise bounds_error(exc, self.scenario) from None
        except ScenarioError as err:
            if err.line is not None:
                raise
            raise self._error(step, err.message) from None
        record.events = ctx.events
        self._check(record)
        if self.keep_state:
            from cowlab.report.state import machine_state

            record.state = machine_state(self.machine)
        self.records.append(record)
        return record

    def _dispatch(self, ctx: Ctx, step: Step, record: StepRecord) -> None:
        m = self.machine.copy()
        if step.until is not None and step.until not in STAGES:
            raise self._error(
                step,
                f"unknown stage {step.until!r} (see cowlab run --list-stages)",
                f"{self._field(step)}.until",
            )
        if step.choose is not None and step.choose not in CHOICES:
            raise self._error(
                step,
                f"unknown choice {step.choose!r} (valid: {', '.join(CHOICES)})",
                f"{self._field(step)}.choose",
            )
        if self._refused_pin(ctx, m, step.action):
            return
        if step.actor in (DEVICE, KERNEL):
            self.machine = apply(ctx, m, outside_op(m, step.action))
            return
        ti = thread_index(m, step.actor)
        if ti is None:
            raise ScenarioError(f"no thread {step.actor!r} (exited, or not yet forked)")
        busy = S.task_depth(m, ti) > 0
        if type(step.action) is not Resume:
            self._missed_stop.pop(step.actor, None)
        if type(step.action) is Resume:
            if not busy:
                missed = self._missed_stop.pop(step.actor, None)
                if missed is None:
                    raise ScenarioError(f"{step.actor} is not stopped: nothing to resume")
                ctx.note(
                    "resume", f"{step.actor} never stopped at {missed} on this kernel: nothing to resume"
                )
                if step.until is not None:
                    # nor does it reach the stop this resume asks for: a checker's trace
                    # (resume after resume) replays on a kernel that takes another path
                    self._missed_stop[step.actor] = step.until
                return
        else:
            if busy:
                raise ScenarioError(f"{step.actor} is stopped at {top(m, ti).stage}: resume it first")
            if type(step.action) is Reclaim:
                op = reclaim_op(m, step.action)
                if op is None:
                    ctx.note("kswapd", f"nothing mapped at {step.action.addr} to reclaim")
                    return
            else:
                op = thread_op(m, ti, step.action)
                if type(step.action) is Pin:
                    self._pins_asked.add(step.action.name)
                elif type(step.action) is Unpin:
                    self._pins_asked.discard(step.action.name)
            m = start(ctx, m, ti, op)
        self.machine, record.stopped_at = self._run_thread(ctx, m, ti, step)

    def _refused_pin(self, ctx: Ctx, m: Machine, action: object) -> bool:
        """A step that uses a pin the kernel refused does nothing (the selftest or the
        driver saw the pin call fail: `expect:` on the pin step says what it expects)."""
        if type(action) not in (DmaRead, DmaWrite, Unpin):
            return False
        name = action.name if type(action) is Unpin else action.pin  # type: ignore[attr-defined]
        if name not in self._pins_asked or S.ref_named(m, name) >= 0:
            return False
        ctx.note(
            "device" if type(action) is not Unpin else "unpin",
            f"no pin {name}: the kernel refused it, so there is nothing to "
            + {DmaRead: "read", DmaWrite: "write", Unpin: "drop"}[type(action)],
        )
        return True

    def _run_thread(self, ctx: Ctx, m: Machine, ti: int, step: Step) -> tuple[Machine, str | None]:
        name = S.task_name(m, ti)
        arrivals = 0
        seen: set[Machine] = set()
        for _ in range(MAX_STAGES_PER_STEP):
            why = blocked(m, ti)
            if why is not None:
                raise ScenarioError(f"impossible step: {name} cannot proceed: {why}")
            m = advance(ctx, m, ti)
            ctx.choice = ""  # a step's choice applies to its first stage only
            index = thread_index(m, name)
            if index is None or not S.task_depth(m, index):
                if step.until is not None:
                    self._missed_stop[name] = step.until
                    ctx.note("stop", f"{name} finished without reaching {step.until} on this kernel")
                return m, None
            ti = index
            stage_name = top(m, ti).stage
            if stage_name == step.until:
                arrivals += 1
                if arrivals == step.nth:
                    ctx.note(
                        "stop",
                        f"{name} stopped at {stage_name}"
                        + (f" (arrival {arrivals})" if step.nth > 1 else ""),
                    )
                    return m, stage_name
            if m in seen:
                # alone, deterministic, and back where it was: it will never return
                ctx.emit(Hung(name, stage_name))
                return m, stage_name
            seen.add(m)
        raise ScenarioError(f"{name} did not finish within {MAX_STAGES_PER_STEP} stages")

    def _check(self, record: StepRecord) -> None:
        self.spec, found = observe(self.spec, self.machine, record.events)
        found.extend(check_pins(self.spec, self.machine))
        found.extend(check_files(self.spec, self.machine))
        found.extend(Violation(MODEL_SANITY, f"cowlab bug: {p}", p) for p in check_sanity(self.machine))
        for violation in found:
            key = (violation.invariant, violation.subject)
            if key in self._seen:
                continue
            self._seen.add(key)
            record.violations.append(violation)
            self.violations.append((record.index, violation))

    def result(self) -> RunResult:
        return RunResult(self.scenario, self.kernel, self.records, self.machine, self.violations)


def run_scenario(scenario: Scenario, kernel: Kernel, *, keep_state: bool = False) -> RunResult:
    """Replay every step; raises ScenarioError at the first impossible step.  With
    ``keep_state``, each step record carries the machine's state after it."""
    replay = Replay(scenario, kernel, keep_state=keep_state)
    for step in scenario.steps:
        replay.do(step)
    return replay.result()
