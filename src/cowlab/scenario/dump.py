"""Write a Scenario back as YAML that the loader reads to an equal Scenario."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import yaml

from cowlab.scenario.actions import ACTION_NAMES, Action
from cowlab.scenario.spec import Scenario, Step
from cowlab.scenario.validate import action_key


def action_body(action: Action) -> str | dict[str, Any]:
    keyword = ACTION_NAMES[type(action)]
    body: dict[str, Any] = {}
    for f in fields(action):
        value = getattr(action, f.name)
        if value == f.default:
            continue
        body[action_key(type(action), f.name)] = list(value) if isinstance(value, tuple) else value
    return body if body else keyword


def step_data(step: Step) -> dict[str, Any]:
    body = action_body(step.action)
    options = {
        k: v
        for k, v in (
            ("until", step.until),
            ("nth", step.nth if step.nth != 1 else None),
            ("choose", step.choose),
        )
        if v is not None
    }
    if options:
        body = ({body: True} if isinstance(body, str) else body) | options
    return {step.actor: body}


def dump_scenario(scenario: Scenario) -> str:
    data: dict[str, Any] = {"name": scenario.name}
    if scenario.description:
        data["description"] = scenario.description
    if scenario.references:
        data["references"] = list(scenario.references)
    if scenario.files:
        data["files"] = [
            {"name": f.name, "pages": f.pages} | ({"fs": f.fs} if f.fs != "ext4" else {})
            for f in scenario.files
        ]
    if scenario.bounds:
        data["bounds"] = dict(scenario.bounds)
    if scenario.expect:
        data["expect"] = dict(scenario.expect)
    data["machine"] = {"nodes": scenario.machine.nodes, "numa_balancing": scenario.machine.numa_balancing}
    data["processes"] = [
        {
            "name": p.name,
            "threads": [
                {
                    k: v
                    for k, v in (("name", t.name), ("node", t.node), ("affinity", t.affinity))
                    if v is not None
                }
                for t in p.threads
            ],
        }
        for p in scenario.processes
    ]
    data["steps"] = [step_data(s) for s in scenario.steps]
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
