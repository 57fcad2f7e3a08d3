"""The cost estimate's arithmetic, checked by hand on a small known plan (prices from policies/prices.py)."""

from __future__ import annotations

import pytest

from policies import cost, prices
from policies.cost import Resource


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
            {"variantName": "serverless", "serverlessConfig": {"memorySizeInMb": 2048.0, "maxConcurrency": 5.0}}]}, urn="config"),
        Resource("aws:sagemaker/endpoint:Endpoint", "endpoint", {"name": "mlserve-dev"}, urn="endpoint", dependencies=["config"]),
        Resource("aws:appautoscaling/target:Target", "stable-scaling", {
            "resourceId": "endpoint/mlserve-dev/variant/stable", "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "minCapacity": 1.0, "maxCapacity": 4.0}),
        Resource("aws:s3/bucket:Bucket", "models", {}),
        Resource("aws:kms/key:Key", "key", {}),
    ]


def test_a_small_plan_by_hand():
    result = cost.estimate(_plan(), "us-west-2")
    lines = {line.item: (round(line.monthly_min, 4), round(line.monthly_max, 4)) for line in result.lines}
    assert lines == {
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
        # 2 x ml.m5.large 0.115 x 730 at the initial count, 4 (autoscaling max) at most; serverless is per request
        "endpoint/stable": (167.9, 335.8),
        "S3 buckets": (1.15, 1.15),                     # 50 GB x 0.023
        "KMS keys": (1.0, 1.0),
    }
    assert result.monthly_min == pytest.approx(455.34, abs=0.01)
    assert result.monthly_max == pytest.approx(1620.1152, abs=0.01)
    assert result.unpriced == []


def test_what_cannot_be_priced_is_listed_not_guessed():
    plan = [Resource("aws:eks/nodeGroup:NodeGroup", "new", {"instanceTypes": ["g7.future"], "scalingConfig": {"minSize": 1.0, "maxSize": 1.0}})]
    assert cost.estimate(plan, "us-west-2").unpriced == ["EC2 g7.future (node group new)"]
    far = cost.estimate(_plan(), "ap-southeast-7")
    assert far.lines == [] and far.unpriced == ["region ap-southeast-7 (prices for ['us-east-1', 'us-west-2']; add it to policies/prices.py)"]


def test_the_table_is_dated_and_sourced_and_covers_the_shipped_pools():
    assert prices.PRICES_AS_OF and all(url.startswith("https://aws.amazon.com/") for url in prices.SOURCES.values())
    for region in prices.REGIONS.values():
        for instance_type in ("m7i.large", "m6i.large", "m7a.large", "g6.xlarge", "g6.2xlarge", "m7i.xlarge", "m6i.xlarge", "g6.4xlarge"):
            assert region["ec2"][instance_type] > 0


def test_render_shows_the_date_the_totals_and_the_assumptions():
    text = "\n".join(cost.render(cost.estimate(_plan(), "us-west-2"), "dev"))
    assert f"as of {prices.PRICES_AS_OF}" in text and "$    455.3" in text and "$  1,620.12" in text
    assert "730 hours per month" in text and "spot at 60% below on-demand" in text


def test_the_shipped_prod_stack_is_priced_in_full(built_plan):
    plan = built_plan("prod")
    result = cost.estimate([Resource(r.type, r.name, r.inputs, r.urn, r.dependencies) for r in plan.resources], "us-west-2")
    assert result.unpriced == []
    assert {line.category for line in result.lines} >= {"node pools", "EKS control plane", "network", "storage"}
    gpu = next(line for line in result.lines if line.item.startswith("cluster-gpu"))
    assert gpu.detail == "0-8 x g6.2xlarge/g6.4xlarge, 200 GiB gp3 each"  # idle until a GPU model serves
