"""A fluent Python API producing the same Scenario as a YAML file, for tests
and exhaustive searches that generate scenarios rather than write them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from cowlab.scenario.actions import Action
from cowlab.scenario.spec import MachineSpec, ProcessSpec, Scenario, Step, ThreadSpec
from cowlab.scenario.validate import validate_scenario


class ScenarioBuilder:
    """``ScenarioBuilder("gaudi").process("P", ThreadSpec("T1")).step("T1", Mmap("buf"))``."""

    def __init__(
        self,
        name: str,
        nodes: int = 2,
        numa_balancing: bool = True,
        description: str = "",
        references: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.machine = MachineSpec(nodes=nodes, numa_balancing=numa_balancing)
        self.description = description
        self.references = tuple(references)
        self.processes: list[ProcessSpec] = []
        self.steps: list[Step] = []

    def process(self, name: str, *threads: ThreadSpec) -> Self:
        """Declare a process and its threads (present from the start)."""
        self.processes.append(ProcessSpec(name, tuple(threads)))
        return self

    def step(self, actor: str, action: Action, until: str | None = None) -> Self:
        """Append a step: ``actor`` does ``action``, stopping at stage ``until``."""
        self.steps.append(Step(actor, action, until))
        return self

    def build(self) -> Scenario:
        """The Scenario, after the same static checks the YAML loader applies."""
        scenario = Scenario(
            name=self.name,
            machine=self.machine,
            processes=tuple(self.processes),
            steps=tuple(self.steps),
            description=self.description,
            references=self.references,
        )
        validate_scenario(scenario)
        return scenario
