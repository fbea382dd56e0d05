"""The public Hypothesis strategies (cowlab.strategies) produce what they say, and a
property test written with them runs: every generated scenario replays to a verdict
on a modeled kernel, never to a model bug."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from cowlab import strategies
from cowlab.engine import run_scenario
from cowlab.history import kernel_at
from cowlab.invariants import MODEL_SANITY
from cowlab.scenario import Scenario, ScenarioError, load_check_config

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SETTINGS
@given(strategies.scenarios())
def test_generated_scenarios_replay_to_a_verdict(scenario: Scenario) -> None:
    assert isinstance(scenario, Scenario) and scenario.steps
    try:
        result = run_scenario(scenario, kernel_at("v6.1.192"))
    except ScenarioError:
        return  # an impossible step (a region unmapped meanwhile): bad input, not a bug
    assert MODEL_SANITY not in result.broken


@SETTINGS
@given(strategies.check_config_texts())
def test_generated_configurations_are_yaml_check_configurations(text: str) -> None:
    try:
        config = load_check_config(text, source="<hypothesis>")
    except ScenarioError:
        return
    assert config.programs
