"""Every Kubernetes Service of the stack is created strictly before the AWS Load Balancer Controller
starts or strictly after it is ready, never while it starts: its webhook (failurePolicy: Fail)
refuses Service creates until it answers (aws-load-balancer-controller#4140, eks-charts#1058).
Whatever can create a Service counts: Service objects, Helm releases and EKS add-ons."""

from __future__ import annotations

import pytest

CREATES_SERVICES = ("kubernetes:core/v1:Service", "kubernetes:helm.sh/v3:Release", "aws:eks/addon:Addon")


def _waits_for(plan) -> dict[str, set[str]]:
    """URN -> every URN it waits for: its dependencies and its parent's (a child registers only once
    its component has, and a component only once what it depends on exists), transitively."""
    direct = {r.urn: set(r.dependencies) | ({r.parent} if r.parent else set()) for r in plan.resources}
    closed: dict[str, set[str]] = {}

    def visit(urn: str) -> set[str]:
        if urn not in closed:
            closed[urn] = set()
            for dependency in direct.get(urn, ()):
                closed[urn] |= {dependency} | visit(dependency)
        return closed[urn]

    for urn in direct:
        visit(urn)
    return closed


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_service_is_ordered_against_the_load_balancer_controller(stack, built_plan):
    plan = built_plan(stack)
    waits = _waits_for(plan)
    [controller] = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release")
                    if r.inputs["chart"] == "aws-load-balancer-controller"]
    concurrent = [r.name for r in plan.resources if r.type in CREATES_SERVICES and r is not controller
                  and controller.urn not in waits[r.urn] and r.urn not in waits[controller.urn]]
    assert concurrent == []
    after = {r.name for r in plan.resources if r.type in CREATES_SERVICES and controller.urn in waits[r.urn]}
    # The mesh, the add-ons, monitoring and the model server's own Service come after it.
    assert {"mesh-istiod", "mesh-ingress-gateway", "cluster-addons-metrics-server", "monitoring-addon"} <= after
    assert ("serving-service" in after) is (plan.of_type("kubernetes:core/v1:Service") != [])
