"""Invariants of the declared stack that nothing else in the suite holds (issue 19, "tests that pin
what the suite does not"): each track's Deployment and PDB select only that track's pods, and an
alarm fires only when every evaluated period breaches (never one bad minute of three)."""

from __future__ import annotations

import pytest

from components.serving_contract import SERVING_NAMESPACE, TRACK_LABEL
from tests.stack.conftest import MANUAL_PROD


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_each_tracks_deployment_and_pdb_select_only_its_own_pods(built_plan):
    plan = built_plan(MANUAL_PROD)  # both tracks: prod under rollout.mode manual
    deployments = [d for d in plan.of_type("kubernetes:apps/v1:Deployment")
                   if d.inputs["metadata"]["namespace"] == SERVING_NAMESPACE]
    pods = {d.inputs["spec"]["template"]["metadata"]["labels"][TRACK_LABEL]: d.inputs["spec"]["template"]["metadata"]["labels"]
            for d in deployments}
    assert set(pods) == {"stable", "canary"}
    selectors = [(d, d.inputs["spec"]["selector"]["matchLabels"]) for d in deployments]
    selectors += [(p, p.inputs["spec"]["selector"]["matchLabels"]) for p in plan.of_type("kubernetes:policy/v1:PodDisruptionBudget")
                  if p.inputs["metadata"]["namespace"] == SERVING_NAMESPACE]
    assert len(selectors) == 4
    for resource, selector in selectors:
        track = selector.get(TRACK_LABEL)
        assert track in pods, f"{resource.name}: selector {selector} lacks {TRACK_LABEL}"
        # Otherwise stable and canary would manage (and drain) each other's pods.
        assert [t for t, labels in pods.items() if _selects(selector, labels)] == [track], resource.name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_an_alarm_needs_every_evaluated_period_to_breach(stack, built_plan):
    alarms = built_plan(stack).of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms
    loose = [(a.inputs["name"], a.inputs["datapointsToAlarm"], a.inputs["evaluationPeriods"]) for a in alarms
             if a.inputs.get("datapointsToAlarm") != a.inputs["evaluationPeriods"]]
    assert loose == []
