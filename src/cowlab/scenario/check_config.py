"""Model-check configurations: threads with programs but no global order, and
budgets for background activity (docs/checking.md, "Configurations")."""

from __future__ import annotations

from dataclasses import dataclass, field

from cowlab.scenario.spec import Scenario, Step


@dataclass(frozen=True)
class Budgets:
    """How many times each background actor may act in one execution."""

    numa_scan: int = 0
    move: int = 0
    lru_drain: int = 0
    reclaim: int = 0
    dma_write: int = 0
    dma_read: int = 0
    #: explore kernel-internal choices too (a trylock that fails, a transient reference)
    kernel_choices: bool = True


@dataclass(frozen=True)
class CheckConfig:
    """``scenario`` declares the machine and the initial processes (no steps);
    ``programs`` gives each thread's actions in order, including threads that a
    fork in some program creates."""

    scenario: Scenario
    programs: tuple[tuple[str, tuple[Step, ...]], ...]
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def name(self) -> str:
        return self.scenario.name
