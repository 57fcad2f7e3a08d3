"""Which alarms exist per target, their thresholds and units, and the alarms' Args rules."""

from __future__ import annotations

import pytest

from components.alarm_specs import Thresholds, eks_alarm_specs, sagemaker_alarm_specs
from components.alarms import AlarmsArgs, scan_finding_pattern


def test_a_gpu_variant_also_alarms_on_gpu_use_scaled_by_its_gpus():
    specs = {s.suffix: s for s in sagemaker_alarm_specs("e", [("stable", "ml.g5.12xlarge")], Thresholds(gpu_percent=90))}
    assert specs["sagemaker-stable-gpu"].threshold == 90 * 4
    assert specs["sagemaker-stable-cpu"].threshold == 85 * 48


def test_a_serverless_variant_has_no_instance_alarms():
    suffixes = {s.suffix for s in sagemaker_alarm_specs("e", [("stable", None)], Thresholds())}
    assert suffixes == {"sagemaker-stable-p99-latency", "sagemaker-stable-5xx", "sagemaker-stable-4xx",
                        "sagemaker-stable-overhead-latency"}


def test_only_latency_and_5xx_roll_back():
    specs = sagemaker_alarm_specs("e", [("stable", "ml.m7i.large"), ("canary", "ml.m7i.large")], Thresholds())
    assert sorted(s.suffix for s in specs if s.rollback) == [
        "sagemaker-canary-5xx", "sagemaker-canary-p99-latency", "sagemaker-stable-5xx", "sagemaker-stable-p99-latency"]


def test_thresholds_are_in_each_metrics_unit():
    [latency] = [s for s in sagemaker_alarm_specs("e", [("stable", None)], Thresholds(p99_latency_ms=40))
                 if s.metric == "ModelLatency"]
    assert latency.threshold == 40_000  # ModelLatency is in microseconds
    [eks_latency] = [s for s in eks_alarm_specs("c", "ns", ["stable"], Thresholds(p99_latency_ms=40))
                     if s.suffix.endswith("p99-latency")]
    assert eks_latency.threshold == 0.04  # the server's histogram is in seconds


def test_alarm_suffixes_must_be_unique():
    specs = tuple(eks_alarm_specs("c", "ns", ["stable"], Thresholds()))
    with pytest.raises(ValueError, match="alarm suffixes repeat"):
        AlarmsArgs(name_prefix="mlserve-dev", specs=specs + specs[:1])


@pytest.mark.parametrize("subscription,match", [(("sms", "+1"), "protocol 'sms'"), (("https", "http://x"), "https://")])
def test_subscriptions_are_email_or_https(subscription, match):
    with pytest.raises(ValueError, match=match):
        AlarmsArgs(name_prefix="mlserve-dev", specs=(), subscriptions=(subscription,))


def test_the_scan_rule_matches_only_critical_findings_of_its_repository():
    pattern = scan_finding_pattern("mlserve-prod/serving-app")
    assert pattern["detail-type"] == ["ECR Image Scan"] and pattern["detail"]["repository-name"] == ["mlserve-prod/serving-app"]
