"""Scenarios: who does what, in which order, from YAML or from Python."""

from cowlab.scenario.actions import (
    ACTIONS,
    Action,
    DmaRead,
    DmaWrite,
    Exit,
    Fork,
    LruDrain,
    Madvise,
    Mmap,
    Move,
    Mprotect,
    Munmap,
    NumaScan,
    Pin,
    PipeRead,
    Read,
    Reclaim,
    Resume,
    Unpin,
    Vmsplice,
    Write,
)
from cowlab.scenario.builder import ScenarioBuilder
from cowlab.scenario.check_config import Budgets, CheckConfig
from cowlab.scenario.errors import ScenarioError
from cowlab.scenario.loader import load_check_config, load_scenario, load_scenario_file
from cowlab.scenario.spec import MachineSpec, ProcessSpec, Scenario, Step, ThreadSpec
from cowlab.scenario.validate import validate_scenario

__all__ = [
    "ACTIONS",
    "Action",
    "Budgets",
    "CheckConfig",
    "DmaRead",
    "DmaWrite",
    "Exit",
    "Fork",
    "LruDrain",
    "MachineSpec",
    "Madvise",
    "Mmap",
    "Move",
    "Mprotect",
    "Munmap",
    "NumaScan",
    "Pin",
    "PipeRead",
    "ProcessSpec",
    "Read",
    "Reclaim",
    "Resume",
    "Scenario",
    "ScenarioBuilder",
    "ScenarioError",
    "Step",
    "ThreadSpec",
    "Unpin",
    "Vmsplice",
    "Write",
    "load_check_config",
    "load_scenario",
    "load_scenario_file",
    "validate_scenario",
]
