"""The `rollout.mode`, `rollout.analysis` and `monitoring` settings: each bad combination is refused
before anything is declared, naming the stack-file key and what to do."""

from __future__ import annotations

from mlserve.stack.settings import parse
from tests.stack.test_settings import as_config, problems_for, stack_values


def test_the_stack_files_pick_automatic_for_prod_and_manual_for_dev():
    prod = parse(as_config(stack_values("prod")), stack_file="Pulumi.prod.yaml")
    dev = parse(as_config(stack_values("dev")), stack_file="Pulumi.dev.yaml")
    assert (prod.rollout.mode, dev.rollout.mode) == ("automatic", "manual")
    assert (prod.monitoring.prometheus_replicas, prod.monitoring.volume_reclaim) == (2, "Retain")
    assert (dev.monitoring.retention_days, dev.monitoring.storage_gib) == (3, 20)


def test_automatic_refuses_a_canary_and_the_manual_weights():
    problems = problems_for(lambda v: v["mlserve:models"].update(canary="fraud-model/5"), stack="prod")
    assert problems == ["mlserve:models.canary = 'fraud-model/5': rollout.mode automatic runs the canary itself (Flagger); "
                        "put the new version in models.stable and remove models.canary"]
    problems = problems_for(lambda v: v["mlserve:rollout"].update(canaryWeight=10, mirrorPercent=5), stack="prod")
    assert [p.split(" = ")[0] for p in problems] == ["mlserve:rollout.canaryWeight", "mlserve:rollout.mirrorPercent"]


def test_manual_refuses_an_analysis_it_would_ignore_and_automatic_needs_eks():
    problems = problems_for(lambda v: v["mlserve:rollout"].update(analysis={"stepWeight": 20}))
    assert problems == ["mlserve:rollout.analysis: used only with rollout.mode automatic; set mode: automatic or remove "
                        "rollout.analysis"]
    problems = problems_for(lambda v: v.update({"mlserve:targets": ["sagemaker"]}), stack="prod")
    assert any(p.startswith("mlserve:rollout.mode = 'automatic': drives Flagger on EKS") for p in problems)


def test_analysis_and_monitoring_values_are_bounded():
    problems = problems_for(lambda v: v["mlserve:rollout"]["analysis"].update(stepWeight=40, maxWeight=30), stack="prod")
    assert problems == ["mlserve:rollout.analysis = {\"intervalSeconds\": 60, \"stepWeight\": 40, \"maxWeight\": 30, "
                        "\"threshold\": 5, \"max503Percent\": 1}: stepWeight 40 is above maxWeight 30"]
    problems = problems_for(lambda v: v["mlserve:rollout"]["analysis"].update(intervalSeconds=10), stack="prod")
    assert problems[0].startswith("mlserve:rollout.analysis.intervalSeconds = 10:")
    problems = problems_for(lambda v: v["mlserve:monitoring"].update(storageGib=5, volumeReclaim="Recycle"))
    assert [p.split(" = ")[0] for p in problems] == ["mlserve:monitoring.storageGib", "mlserve:monitoring.volumeReclaim"]
    problems = problems_for(lambda v: v["mlserve:rollout"]["analysis"].update(
        alerts={"provider": "pagerduty", "secretName": "x"}), stack="prod")
    assert problems[0].startswith("mlserve:rollout.analysis.alerts.provider = \"pagerduty\":")
