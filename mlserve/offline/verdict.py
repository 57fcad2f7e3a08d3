"""What `make preview` adds after the plan: the policy pack's verdict and the cost estimate.

`evaluate` runs the whole pack (mlserve/offline/pack.py) with the stack's policy config and prices
the plan (policies/cost.py); `make preview` prints both and fails on a mandatory violation, and the
plan JSON carries both for the pull-request comment (mlserve/offline/pr_comment.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlserve.offline import engine
from mlserve.offline import pack as policy_check
from policies import cost


@dataclass(frozen=True)
class Checks:
    """The policy report and cost estimate of one plan."""

    report: policy_check.Report
    estimate: cost.Estimate
    policy_config: str

    @property
    def failed(self) -> bool:
        """True when a mandatory rule is violated (the command then exits 1)."""
        return self.report.count("mandatory") > 0

    def lines(self, stack: str) -> list[str]:
        return [f"Policy pack (policies/, config {self.policy_config}):", *policy_check.render(self.report), "",
                *cost.render(self.estimate, stack)]

    def to_json(self) -> dict[str, Any]:
        return {"policy": {"config": self.policy_config, **self.report.to_json()}, "cost": self.estimate.to_json()}


def region(plan: engine.Plan) -> str:
    """The region of the stack's explicit AWS provider."""
    regions = [r.inputs.get("region") for r in plan.resources if r.type == "pulumi:providers:aws" and r.inputs.get("region")]
    if not regions:
        raise ValueError("the plan declares no AWS provider with a region")
    return str(regions[0])


def cost_resources(plan: engine.Plan) -> list[cost.Resource]:
    """The plan as the estimate reads it, the root stack (with the stack's outputs, where the usage
    assumptions travel) included, as the policy analyzer gives it to the budget rule."""
    root = cost.Resource(type=policy_check.STACK_TYPE, name=f"{engine.PROJECT}-{plan.stack}", props=dict(plan.exports),
                         urn=policy_check.root_stack_urn(plan))
    return [root, *(cost.Resource(type=r.type, name=r.name, props=r.inputs, urn=r.urn, dependencies=r.dependencies)
                    for r in plan.resources)]


def evaluate(plan: engine.Plan, policy_config: Path) -> Checks:
    """Run the pack with `policy_config` (raises PolicyConfigError) and price the plan."""
    from policies import all_rules

    rules = all_rules()
    config = policy_check.load_config(policy_config, rules)
    shown = policy_config.relative_to(policy_check.ROOT) if policy_config.is_relative_to(policy_check.ROOT) else policy_config
    return Checks(report=policy_check.check(plan, config, rules), estimate=cost.estimate(cost_resources(plan), region(plan)),
                  policy_config=str(shown))
