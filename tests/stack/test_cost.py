"""The cost estimate's arithmetic, checked by hand on small known plans (prices from policies/prices.json,
us-west-2), and the shipped stacks priced in full."""

from __future__ import annotations

import json

import pytest

from mlserve.offline.verdict import cost_resources
from policies import cost, prices
from policies.cost.refresh import SERVICE_QUERIES
from policies.cost.usage import STACK_OUTPUT, STACK_TYPE
from policies.cost.model import Resource

R = "us-west-2"
SCALING = "sagemaker:variant:DesiredInstanceCount"


def _plan() -> list[Resource]:
    return [
        Resource("aws:ec2/launchTemplate:LaunchTemplate", "cpu-lt", {"blockDeviceMappings": [{"ebs": {"volumeSize": 50.0}}]}, urn="lt"),
        Resource("aws:eks/nodeGroup:NodeGroup", "cpu", {"capacityType": "ON_DEMAND", "instanceTypes": ["m7i.large", "m6i.large"],
                                                        "scalingConfig": {"minSize": 1.0, "maxSize": 3.0}}, urn="cpu", dependencies=["lt"]),
        Resource("aws:eks/nodeGroup:NodeGroup", "gpu", {"capacityType": "SPOT", "instanceTypes": ["g6.xlarge"],
                                                        "scalingConfig": {"minSize": 0.0, "maxSize": 2.0}}, urn="gpu"),
        Resource("aws:eks/cluster:Cluster", "eks", {"version": "1.36", "upgradePolicy": {"supportType": "EXTENDED"}}),
        Resource("aws:ec2/natGateway:NatGateway", "nat-a", {}), Resource("aws:ec2/natGateway:NatGateway", "nat-b", {}),
        Resource("aws:ec2/eip:Eip", "eip-a", {}), Resource("aws:ec2/eip:Eip", "eip-b", {}),
        Resource("aws:ec2/vpcEndpoint:VpcEndpoint", "sts", {"vpcEndpointType": "Interface", "subnetIds": ["a", "b"]}),
        Resource("aws:ec2/vpcEndpoint:VpcEndpoint", "s3", {"vpcEndpointType": "Gateway"}),
        Resource("kubernetes:core/v1:Service", "gateway", {"spec": {"type": "LoadBalancer"}}),
        Resource("kubernetes:helm.sh/v3:Release", "ingress", {"chart": "gateway", "values": {"service": {"ports": []}}}),
        Resource("kubernetes:helm.sh/v3:Release", "no-lb", {"chart": "gateway", "values": {"service": {"type": "ClusterIP"}}}),
        Resource("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "config", {"productionVariants": [
            {"variantName": "stable", "instanceType": "ml.m5.large", "initialInstanceCount": 2.0},
            {"variantName": "fixed", "instanceType": "ml.c5.xlarge", "initialInstanceCount": 2.0},
            {"variantName": "serverless", "serverlessConfig": {"memorySizeInMb": 2048.0, "maxConcurrency": 5.0}}]}, urn="config"),
        Resource("aws:sagemaker/endpoint:Endpoint", "endpoint", {"name": "mlserve-dev"}, urn="endpoint", dependencies=["config"]),
        Resource("aws:appautoscaling/target:Target", "stable-scaling", {
            "resourceId": "endpoint/mlserve-dev/variant/stable", "scalableDimension": SCALING, "minCapacity": 1.0, "maxCapacity": 4.0}),
        Resource("aws:s3/bucket:Bucket", "models", {}),
        Resource("aws:kms/key:Key", "key", {}),
    ]


def _lines(result: cost.Estimate) -> dict[str, tuple[float, float]]:
    return {line.item: (round(line.monthly_min, 4), round(line.monthly_max, 4)) for line in result.lines}


def test_a_small_plan_by_hand():
    result = cost.estimate(_plan(), R)
    assert _lines(result) == {
        # min: 1 x (cheapest m6i.large 0.096 $/h x 730 h + 50 GiB x 0.08); max: 3 x (dearest m7i.large 0.1008 x 730 + 4)
        "cpu (on-demand)": (74.08, 232.752),
        # spot: 60% off; no launch template: EKS's 20 GiB default disk. max: 2 x (0.8048 x 0.4 x 730 + 20 x 0.08)
        "gpu (spot)": (0.0, 473.2032),
        "eks": (73.0, 438.0),                           # 0.10 $/h standard, 0.60 $/h extended support
        "NAT gateways": (74.7, 74.7),                   # 2 x (0.045 x 730 + 0.045 x 100 GB)
        "public IPv4 addresses": (7.3, 7.3),            # 2 x 0.005 x 730
        "interface VPC endpoints": (14.6, 14.6),        # 1 endpoint in 2 AZs x 0.01 x 730; gateway endpoints are free
        # the Service and the gateway release's default LoadBalancer (not the ClusterIP one): 2 x (0.0225 + 1 LCU x 0.006) x 730
        "network load balancers": (41.61, 41.61),
        # autoscaling allows 1..4 (not the initial 2): 0.115 x 730 = 83.95 per instance
        "endpoint/stable": (83.95, 335.8),
        "endpoint/fixed": (297.84, 297.84),              # no scaling target: its 2 instances, 2 x 0.204 x 730
        "S3 buckets": (1.15, 1.15),                     # 50 GB x 0.023
        "KMS keys": (1.0, 1.0),
        "KMS requests": (3.0, 3.0),                     # 1,000,000 / 10,000 x 0.03
    }
    assert result.monthly_min == pytest.approx(672.23, abs=0.01)
    assert result.monthly_max == pytest.approx(1920.9552, abs=0.01)
    assert result.unpriced == [] and result.complete
    assert "SageMaker serverless variant endpoint/serverless (billed per request)" in result.excluded
    assert result.usage_source.startswith("defaults")


def _observed() -> list[Resource]:
    """Logs, alarms, dashboards, trail, claims, AZs, the observability add-on: every usage-billed kind."""
    addon_config = {"agent": {"config": {"logs": {"metrics_collected": {
        "kubernetes": {"enhanced_container_insights": True},
        "prometheus": {"emf_processor": {"metric_declaration": [
            {"dimensions": [["ClusterName", "track"]], "metric_selectors": ["^a$", "^b$", "^c$"]},
            {"dimensions": [["ClusterName", "track", "status"]], "metric_selectors": ["^d$"]}]}}}}},
        "prometheus": {"config": {"scrape_configs": [{"kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["serving"]}}]}]}}}}
    metric = {"namespace": "AWS/SageMaker", "metricName": "Invocations", "period": 60.0, "stat": "Sum"}
    return [
        Resource("aws:eks/nodeGroup:NodeGroup", "pool", {"instanceTypes": ["t3.medium"], "scalingConfig": {"minSize": 1.0, "maxSize": 3.0}}),
        Resource("aws:ec2/subnet:Subnet", "a", {"availabilityZone": "us-west-2a"}),
        Resource("aws:ec2/subnet:Subnet", "b", {"availabilityZone": "us-west-2b"}),
        Resource("aws:cloudwatch/logGroup:LogGroup", "control", {"name": "/aws/eks/c/cluster"}),
        Resource("aws:cloudwatch/logGroup:LogGroup", "app", {"name": "/aws/containerinsights/c/application"}),
        Resource("aws:cloudwatch/logGroup:LogGroup", "flow", {"name": "/flow", "retentionInDays": 365.0}),
        Resource("aws:ec2/flowLog:FlowLog", "flow-log", {"logDestination": "arn:aws:logs:us-west-2:1:log-group:/flow:*"}),
        Resource("aws:cloudwatch/metricAlarm:MetricAlarm", "plain", {"metricName": "Invocations", "period": 60.0}),
        Resource("aws:cloudwatch/metricAlarm:MetricAlarm", "math", {"metricQueries": [
            {"id": "a", "metric": metric}, {"id": "b", "metric": metric}, {"id": "rate", "expression": "a/b"}]}),
        Resource("aws:cloudwatch/metricAlarm:MetricAlarm", "fast", {"metricName": "Invocations", "period": 10.0}),
        Resource("aws:cloudwatch/metricAlarm:MetricAlarm", "band", {"metricName": "Invocations", "period": 300.0,
                                                                     "comparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}),
        Resource("aws:cloudwatch/compositeAlarm:CompositeAlarm", "either", {"alarmRule": "ALARM(plain) OR ALARM(math)"}),
        Resource("aws:cloudwatch/dashboard:Dashboard", "board", {}),
        Resource("aws:cloudtrail/trail:Trail", "trail", {"advancedEventSelectors": [{"fieldSelectors": [
            {"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}]}),
        Resource("aws:cloudtrail/trail:Trail", "management-only", {}),
        Resource("kubernetes:core/v1:PersistentVolumeClaim", "claim", {"spec": {"resources": {"requests": {"storage": "10Gi"}}}}),
        Resource("kubernetes:apps/v1:StatefulSet", "db", {"spec": {"replicas": 2.0, "volumeClaimTemplates": [
            {"spec": {"storageClassName": "gp2", "resources": {"requests": {"storage": "50Gi"}}}}]}}),
        Resource("kubernetes:helm.sh/v3:Release", "monitoring", {"chart": "kube-prometheus-stack", "values": {
            "prometheus": {"prometheusSpec": {"replicas": 2.0, "storageSpec": {"volumeClaimTemplate": {"spec": {
                "resources": {"requests": {"storage": "50Gi"}}}}}}},
            "grafana": {"persistence": {"enabled": True, "size": "10Gi"}},
            "alertmanager": {"persistence": {"enabled": False, "size": "99Gi"}}}}),
        Resource("aws:eks/addon:Addon", "observability", {"addonName": "amazon-cloudwatch-observability",
                                                           "configurationValues": json.dumps(addon_config)}),
        Resource("kubernetes:apps/v1:Deployment", "stable", {"metadata": {"namespace": "serving"}}),
        Resource("kubernetes:apps/v1:Deployment", "canary", {"metadata": {"namespace": "serving"}}),
        Resource("kubernetes:apps/v1:Deployment", "elsewhere", {"metadata": {"namespace": "kube-system"}}),
    ]


def test_usage_billed_items_by_hand():
    lines = _lines(cost.estimate(_observed(), R))
    # Without retention a group holds 12 months: each GB costs 0.50 ingested + 12 x 0.03 stored = 0.86.
    assert lines["EKS control plane"] == (25.8, 25.8)                # 30 GB x 0.86
    assert lines["Container Insights"] == (2.58, 7.74)               # 3 GB per node, 1..3 nodes, x 0.86
    # 365 days = 12 months of 730 h: 15 GB x (0.50 + 12 x 0.03); found through the FlowLog's destination, not the name
    assert lines["VPC flow logs"] == (12.9, 12.9)
    # standard: plain 1 + math 2 (the expression is free) + anomaly band 3 = 6 x 0.10; high resolution 1 x 0.30; composite 0.50
    assert lines["alarms"] == (1.4, 1.4)
    assert lines["dashboards"] == (3.0, 3.0)
    assert lines["CloudTrail data events"] == (1.0, 1.0)             # one data-event trail: 1,000,000 / 100,000 x 0.10
    assert lines["data between AZs"] == (2.0, 2.0)                   # 100 GB x 0.01 out + 0.01 in
    # (3 + 1) declared metrics x 2 Deployments in the scraped namespace x 0.30
    assert lines["Prometheus custom metrics"] == (2.4, 2.4)
    # gp3: the 10 GiB claim (class unknown), Prometheus 2 x 50 GiB, Grafana 10 GiB = 120 GiB x 0.08; gp2: 2 x 50 GiB x 0.10
    assert lines["EBS gp3 volumes (Kubernetes claims)"] == (9.6, 9.6)
    assert lines["EBS gp2 volumes (Kubernetes claims)"] == (10.0, 10.0)


def test_container_insights_with_enhanced_observability_is_listed_as_excluded_not_guessed():
    result = cost.estimate(_observed(), R)
    assert any(item.startswith("Container Insights with enhanced observability on observability") for item in result.excluded)
    assert not any("Container Insights" in line.item and line.category == "monitoring" for line in result.lines
                   if line.item != "Prometheus custom metrics")


def test_assumptions_come_from_the_stack_output_and_change_the_estimate():
    root = Resource(STACK_TYPE, "mlserve-dev", {STACK_OUTPUT: {"logIngestionGb": {"controlPlane": 10.0}, "kmsRequestsPerMonth": 0.0,
                                                               "crossAzGbPerMonth": 500.0}})
    result = cost.estimate([root, *_observed(), Resource("aws:kms/key:Key", "key", {})], R)
    lines = _lines(result)
    assert lines["EKS control plane"] == (8.6, 8.6)      # 10 GB x 0.86
    assert lines["KMS requests"] == (0.0, 0.0)
    assert lines["data between AZs"] == (10.0, 10.0)     # 500 GB x 0.02
    assert result.usage_source.startswith("the stack's cost_assumptions output")
    assert result.to_json()["usage"]["logIngestionGb"]["controlPlane"] == 10.0


def test_a_malformed_assumption_is_refused_naming_the_key():
    root = Resource(STACK_TYPE, "mlserve-dev", {STACK_OUTPUT: {"natGbPerMonth": -1}})
    with pytest.raises(ValueError, match=r"cost_assumptions.natGbPerMonth = -1: a number >= 0"):
        cost.estimate([root], R)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['natGb'\]"):
        cost.estimate([Resource(STACK_TYPE, "s", {STACK_OUTPUT: {"natGb": 1}})], R)


def test_what_cannot_be_priced_is_listed_not_guessed():
    plan = [Resource("aws:eks/nodeGroup:NodeGroup", "new", {"instanceTypes": ["g7.future"], "scalingConfig": {"minSize": 1.0, "maxSize": 1.0}})]
    assert cost.estimate(plan, R).unpriced == ["EC2 g7.future (node group new)"]
    far = cost.estimate(_plan(), "eu-west-1")
    assert far.lines == [] and not far.complete
    assert far.unpriced == ["region eu-west-1 (the table prices ['us-east-1', 'us-west-2']; a maintainer adds it with "
                            "`python -m policies.cost.refresh --add-region eu-west-1`)"]


def test_an_item_missing_from_a_region_of_the_table_is_unpriced(monkeypatch):
    table = json.loads(json.dumps(prices.REGIONS[R]))
    del table["services"]["logs_ingest_gb"]
    monkeypatch.setitem(prices.REGIONS, R, table)
    result = cost.estimate(_observed(), R)
    assert "CloudWatch Logs ingestion (no 'logs_ingest_gb' price for this region in policies/prices.json)" in result.unpriced
    assert not any(line.category == "logs" for line in result.lines)


def test_the_table_is_dated_sourced_and_complete_in_every_region():
    assert prices.PRICES_AS_OF and all(url.startswith("https://aws.amazon.com/") for url in prices.SOURCES.values())
    assert {source for _, source in prices.SERVICE_ITEMS.values()} <= set(prices.SOURCES)
    for region, table in prices.REGIONS.items():
        assert set(table["services"]) == set(prices.SERVICE_ITEMS), region
        for instance_type in ("m7i.large", "m6i.large", "m7a.large", "g6.xlarge", "g6.2xlarge", "m7i.xlarge", "m6i.xlarge", "g6.4xlarge"):
            assert table["ec2"][instance_type] > 0
    assert set(SERVICE_QUERIES) == set(prices.SERVICE_ITEMS)  # every figure can be refreshed


def test_render_shows_the_date_the_totals_the_assumptions_and_what_is_left_out():
    text = "\n".join(cost.render(cost.estimate(_plan(), R), "dev"))
    assert f"as of {prices.PRICES_AS_OF}" in text and "$    672.23" in text and "$  1,920.96" in text
    assert "730 hours per month" in text and "spot at 60% below on-demand" in text
    assert "assumptions (defaults (the stack exports no cost_assumptions))" in text
    assert "not included: SageMaker serverless variant endpoint/serverless (billed per request); data transfer out" in text
    unpriced = "\n".join(cost.render(cost.estimate(_plan(), "eu-west-1"), "dev"))
    assert "  priced part (min / max)  $      0.00" in unpriced and "  not priced: region eu-west-1" in unpriced


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shipped_stacks_are_priced_in_full(built_plan, stack):
    plan = built_plan(stack)
    result = cost.estimate(cost_resources(plan), R)
    assert result.unpriced == [] and result.usage_source.startswith("the stack's cost_assumptions output")
    categories = {line.category for line in result.lines}
    assert categories >= {"node pools", "EKS control plane", "network", "storage", "logs", "monitoring", "load balancers"}
    assert {line.item for line in result.lines if line.category == "logs"} >= {"EKS control plane", "Container Insights", "VPC flow logs"}
    assert any(item.startswith("Container Insights with enhanced observability") for item in result.excluded)
    if stack == "prod":
        gpu = next(line for line in result.lines if line.item.startswith("cluster-gpu"))
        assert gpu.detail == "0-8 x g6.2xlarge/g6.4xlarge, 200 GiB gp3 each"  # idle until a GPU model serves
        assert {"SageMaker endpoints", "CloudTrail data events"} <= {line.item for line in result.lines}


def test_prod_sagemaker_is_priced_from_what_autoscaling_allows(built_plan):
    plan = built_plan("prod")
    result = cost.estimate(cost_resources(plan), R)
    hourly = prices.REGIONS[R]["sagemaker"]
    for target in plan.of_type("aws:appautoscaling/target:Target"):
        variant = target.inputs["resourceId"].rsplit("/", 1)[-1]
        line = next(l for l in result.lines if l.category == "SageMaker" and l.item.endswith(f"/{variant}"))
        kind = line.detail.split(" x ")[1].split()[0]
        assert line.monthly_min == pytest.approx(target.inputs["minCapacity"] * hourly[kind] * 730)
        assert line.monthly_max == pytest.approx(target.inputs["maxCapacity"] * hourly[kind] * 730)
