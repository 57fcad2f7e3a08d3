"""The promotion walk-through of docs/operations.md, step by step: each step is a settings change to prod and
one `pulumi up`; `make preview` prints the route weights and the versions of each."""

from __future__ import annotations

import json

import pytest

from mlserve.offline import engine
from mlserve.offline import plan as plan_cli
from mlserve.offline.routes import route_lines

STEPS = {
    "1-stable-only": ({"stable": "fraud-model/3"}, {}),
    "2-canary-at-10": ({"stable": "fraud-model/3", "canary": "fraud-model/4"}, {"canaryWeight": 10, "canaryHeaderRoute": True}),
    "3-canary-at-50-with-mirror": ({"stable": "fraud-model/3", "canary": "fraud-model/4"}, {"canaryWeight": 50, "mirrorPercent": 5}),
    "4-canary-at-0": ({"stable": "fraud-model/3", "canary": "fraud-model/4"}, {"canaryWeight": 0}),
    "5-promoted": ({"stable": "fraud-model/4"}, {}),
}
EXPECTED = {
    "1-stable-only": ["  weighted -> stable 100% (fraud-model/3 on pool cpu, 2-8 replicas)"],
    "2-canary-at-10": [
        "  header x-mlserve-canary: always -> canary 100% (fraud-model/4 on pool cpu, 2-4 replicas)",
        "  weighted -> stable 90% (fraud-model/3 on pool cpu, 2-8 replicas), canary 10% (fraud-model/4 on pool cpu, 2-4 replicas)"],
    "3-canary-at-50-with-mirror": [
        "  weighted -> stable 50% (fraud-model/3 on pool cpu, 2-8 replicas), canary 50% (fraud-model/4 on pool cpu, 2-4 replicas)",
        "  mirror 5% of those requests -> canary (answers discarded)"],
    "4-canary-at-0": [
        "  weighted -> stable 100% (fraud-model/3 on pool cpu, 2-8 replicas), canary 0% (fraud-model/4 on pool cpu, 2-4 replicas)"],
    "5-promoted": ["  weighted -> stable 100% (fraud-model/4 on pool cpu, 2-8 replicas)"],
}


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_promotion_step_plans_and_prints_its_routes(step):
    models, rollout = STEPS[step]
    config = engine.stack_config(plan_cli.ROOT / "Pulumi.prod.yaml")
    config["mlserve:models"] = json.dumps(models)
    config["mlserve:rollout"] = json.dumps(rollout)
    plan = engine.run_program(plan_cli.ROOT / "__main__.py", stack="prod", config=config)
    lines = route_lines(plan)
    assert lines[0] == "Routes (model-server via istio-ingress/mlserve-gateway):"
    assert lines[1:] == EXPECTED[step]
    tracks = {r.inputs["spec"]["template"]["metadata"]["labels"]["mlserve.io/track"]
              for r in plan.of_type("kubernetes:apps/v1:Deployment")}
    assert tracks == ({"stable", "canary"} if "canary" in models else {"stable"})


def test_dev_prints_its_one_route(built_plan):
    [title, route] = route_lines(built_plan("dev"))
    assert title == "Routes (model-server via istio-ingress/mlserve-gateway):"
    assert route.startswith("  weighted -> stable 100% (demo-rf/local-") and route.endswith("on pool cpu, 2-6 replicas)")
