"""The alarms in the whole program: prod pages, dev records; both targets' model-health alarms;
the topic is encrypted and only this stack's alarms and rules publish to it."""

from __future__ import annotations

from tests.stack.conftest import MANUAL_PROD  # noqa: E402  (prod with a weighted canary)

import json

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def test_every_prod_alarm_notifies_the_topic_and_no_dev_alarm_does(built_plan):
    prod, dev = built_plan(MANUAL_PROD), built_plan("dev")
    topic_arn = prod.one(TOPIC).outputs["arn"]
    prod_alarms = prod.of_type(ALARM)
    assert prod_alarms
    for alarm in prod_alarms:
        assert alarm.inputs["actionsEnabled"] is True, alarm.name
        assert alarm.inputs["alarmActions"] == [topic_arn] and alarm.inputs["okActions"] == [topic_arn], alarm.name
    dev_alarms = dev.of_type(ALARM)
    assert dev_alarms
    for alarm in dev_alarms:
        assert alarm.inputs["actionsEnabled"] is False, alarm.name
        assert not alarm.inputs.get("alarmActions") and not alarm.inputs.get("okActions"), alarm.name


def _by_metric(plan, namespace):
    return {(a.inputs["metricName"], tuple(sorted(a.inputs["dimensions"].items()))): a
            for a in plan.of_type(ALARM) if a.inputs.get("namespace") == namespace}


def test_sagemaker_alarms_cover_latency_errors_and_cpu_per_variant(built_plan):
    prod = built_plan(MANUAL_PROD)
    invocation = _by_metric(prod, "AWS/SageMaker")
    instance = _by_metric(prod, "/aws/sagemaker/Endpoints")
    for variant in ("stable", "canary"):
        dims = tuple(sorted({"EndpointName": "mlserve-prod", "VariantName": variant}.items()))
        latency = invocation[("ModelLatency", dims)]
        assert latency.inputs["extendedStatistic"] == "p99" and latency.inputs["threshold"] == 250_000  # 250 ms in us
        assert invocation[("Invocation5XXErrors", dims)].inputs["threshold"] == 0.02  # alarms.error5xxPercent 2
        assert invocation[("Invocation4XXErrors", dims)].inputs["threshold"] == 0.1
        # ml.m7i.xlarge has 4 vCPUs; CPUUtilization sums them (0-400 %).
        assert instance[("CPUUtilization", dims)].inputs["threshold"] == 85 * 4


def test_eks_alarms_are_about_the_model_per_track_and_the_cluster(built_plan):
    prod = built_plan(MANUAL_PROD)
    names = {a.inputs["name"]: a for a in prod.of_type(ALARM)}
    for track in ("stable", "canary"):
        latency = names[f"mlserve-prod-eks-{track}-p99-latency"]
        assert latency.inputs["namespace"] == "ContainerInsights/Prometheus"
        assert latency.inputs["metricName"] == "mlserve_request_duration_p99_seconds"  # a gauge the agent keeps
        assert latency.inputs["statistic"] == "Maximum"
        assert latency.inputs["dimensions"] == {"ClusterName": "mlserve-prod", "Namespace": "mlserve-serving", "track": track}
        errors = names[f"mlserve-prod-eks-{track}-5xx"]
        queries = {q["id"]: q for q in errors.inputs["metricQueries"]}
        assert queries["errors"]["metric"]["metricName"] == "mlserve_requests_total"
        assert queries["errors"]["metric"]["dimensions"]["status_class"] == "5xx"
        assert queries["errors"]["metric"]["dimensions"]["track"] == track
        assert "rate" in queries and queries["rate"]["returnData"] is True
        assert names[f"mlserve-prod-eks-{track}-restarts"].inputs["dimensions"]["PodName"] == f"model-server-{track}"
        pending = names[f"mlserve-prod-eks-{track}-pending"]
        assert pending.inputs["metricName"] == "pod_status_pending"
        assert pending.inputs["dimensions"] == {"ClusterName": "mlserve-prod", "Namespace": "mlserve-serving",
                                                "PodName": f"model-server-{track}"}
    assert names["mlserve-prod-eks-failed-nodes"].inputs["metricName"] == "cluster_failed_node_count"


def test_the_topic_is_encrypted_and_only_this_stacks_alarms_and_rules_publish(built_plan):
    prod = built_plan(MANUAL_PROD)
    topic = prod.one(TOPIC)
    assert topic.inputs["name"] == "mlserve-prod-alarms"
    assert topic.inputs["kmsMasterKeyId"] == prod.one("aws:kms/key:Key", "alarms-key").outputs["arn"]
    policy = json.loads(prod.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    sources = {s["Principal"]["Service"]: s["Condition"]["ArnLike"]["aws:SourceArn"] for s in policy["Statement"]}
    assert sources == {"cloudwatch.amazonaws.com": "arn:aws:cloudwatch:us-west-2:123456789012:alarm:mlserve-prod-*",
                       "events.amazonaws.com": "arn:aws:events:us-west-2:123456789012:rule/mlserve-prod-*"}
    key_policy = json.loads(prod.one("aws:kms/key:Key", "alarms-key").inputs["policy"])
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com"} <= {
        s["Principal"].get("Service") for s in key_policy["Statement"]}
    [subscription] = prod.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "email" and subscription.inputs["topic"] == topic.outputs["arn"]


def test_critical_image_findings_notify_the_topic(built_plan):
    prod = built_plan(MANUAL_PROD)
    rule = prod.one("aws:cloudwatch/eventRule:EventRule")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail"]["repository-name"] == [prod.one("aws:ecr/repository:Repository").inputs["name"]]
    assert pattern["detail"]["finding-severity-counts"] == {"CRITICAL": [{"numeric": [">", 0]}]}
    target = prod.one("aws:cloudwatch/eventTarget:EventTarget")
    assert target.inputs["arn"] == prod.one(TOPIC).outputs["arn"] and target.inputs["rule"] == rule.inputs["name"]


def test_the_dashboard_shows_both_targets(built_plan):
    prod = built_plan(MANUAL_PROD)
    dashboard = prod.one("aws:cloudwatch/dashboard:Dashboard")
    assert dashboard.inputs["dashboardName"] == "mlserve-prod"
    widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
    metrics = {m[1] for w in widgets for m in w["properties"]["metrics"]}
    assert {"ModelLatency", "Invocations", "Invocation5XXErrors", "CPUUtilization", "GPUUtilization",
            "mlserve_request_duration_p99_seconds", "mlserve_requests_total", "mlserve_batch_size_rows_mean",
            "pod_number_of_running_containers", "node_gpu_utilization"} <= metrics
    assert all(w["properties"]["region"] == "us-west-2" for w in widgets)
