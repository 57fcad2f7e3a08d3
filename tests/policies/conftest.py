"""The compliant stack, recorded once per test worker, and helpers to run one rule on changed props."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlserve.offline import engine
from mlserve.offline import pack as policy_check
from tests.policies import compliant

DELETE = object()
"""As a `change` value: remove the key."""


@pytest.fixture(scope="session")
def compliant_plan() -> engine.Plan:
    return engine.run(compliant.program, stack=compliant.STACK, config={"mlserve:region": "us-west-2"})


def changed(plan: engine.Plan, name: str, changes: dict[str, Any]) -> engine.Plan:
    """A copy of `plan` where resource `name` has each dotted input path set (or DELETEd); outputs follow.
    A changed input is a literal now, so it no longer depends on the resource it came from."""
    plan = copy.deepcopy(plan)
    resource = next(r for r in plan.resources if r.name == name)
    for path, value in changes.items():
        resource.property_dependencies.pop(path.split(".")[0], None)
        for props in (resource.inputs, resource.outputs):
            *parents, last = path.split(".")
            target: Any = props
            for part in parents:
                target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
            if value is DELETE:
                target.pop(last, None)
            elif isinstance(target, list):
                target[int(last)] = value
            else:
                target[last] = value
    return plan


def messages(plan: engine.Plan, rule_name: str, config: dict | None = None) -> list[str]:
    """The violations one rule reports on `plan`, as "<resource name>: <message>"."""
    from policies import all_rules

    rule = next(r for r in all_rules() if r.name == rule_name)
    report = policy_check.check(plan, {rule_name: config} if config else {}, rules=[rule])
    return [f"{v.resource_name}: {v.message}" for v in report.violations]
