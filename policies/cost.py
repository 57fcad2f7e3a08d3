"""The monthly cost of a plan: pure arithmetic over the planned resources and `policies/prices.py`.

Each resource kind that costs money has one function below that turns its planned resources into
lines (monthly at the minimum and at the maximum the plan allows). Usage-billed items are priced
from the stated ASSUMPTIONS, never silently left out; a type or region missing from the price
table is listed as unpriced. New resource kinds plug in as a table row in `prices.py` plus one
function here added to PRICERS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from policies import prices
from policies.props import as_list, get

NAT_GB_PER_MONTH = 100
"""Assumed data through each NAT gateway a month (image pulls and logs use VPC endpoints instead)."""
LB_LCU = 1
"""Assumed load-balancer capacity units in use per hour (light serving traffic)."""
BUCKET_GB = 50
"""Assumed stored GB per S3 bucket (model versions, data capture)."""
REPOSITORY_GB = 10
"""Assumed stored GB per ECR repository (release images kept by the lifecycle policy)."""
EKS_DEFAULT_DISK_GIB = 20
"""A managed node group's root volume when no launch template sets one (EKS API default)."""

ASSUMPTIONS = [
    f"{prices.HOURS_PER_MONTH} hours per month",
    f"spot at {prices.SPOT_DISCOUNT:.0%} below on-demand",
    "node pools: minimum size at the cheapest listed instance type, maximum size at the dearest",
    f"{NAT_GB_PER_MONTH} GB a month through each NAT gateway",
    f"{LB_LCU} LCU per load balancer",
    f"{BUCKET_GB} GB per S3 bucket, {REPOSITORY_GB} GB per ECR repository",
    "EKS extended support (max) only where upgradePolicy is EXTENDED",
    "on-demand list prices; no Savings Plans, Reserved Instances, free tier, taxes or data transfer out",
]


@dataclass(frozen=True)
class Resource:
    """What the estimate reads of a planned resource (the engine's plan and the policy analyzer both give this)."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    dependencies: Sequence[str] = ()


@dataclass(frozen=True)
class Line:
    """One priced item: monthly USD at the plan's minimum and maximum."""

    category: str
    item: str
    detail: str
    monthly_min: float
    monthly_max: float


@dataclass(frozen=True)
class Estimate:
    """A plan's monthly cost, broken down, with what it could not price."""

    region: str
    lines: list[Line] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)

    @property
    def monthly_min(self) -> float:
        return round(sum(line.monthly_min for line in self.lines), 2)

    @property
    def monthly_max(self) -> float:
        return round(sum(line.monthly_max for line in self.lines), 2)

    def to_json(self) -> dict[str, Any]:
        return {"region": self.region, "pricesAsOf": prices.PRICES_AS_OF, "monthlyMin": self.monthly_min,
                "monthlyMax": self.monthly_max, "assumptions": ASSUMPTIONS, "unpriced": self.unpriced,
                "lines": [{"category": l.category, "item": l.item, "detail": l.detail,
                           "monthlyMin": round(l.monthly_min, 2), "monthlyMax": round(l.monthly_max, 2)} for l in self.lines]}


H = prices.HOURS_PER_MONTH
Table = Mapping[str, Mapping[str, float]]
Pricer = Callable[[list[Resource], Table, list[str]], Iterable[Line]]


def node_pools(resources: list[Resource], table: Table, unpriced: list[str]) -> Iterable[Line]:
    """Managed node groups: instances plus their root volumes, at min and max size."""
    by_urn = {r.urn: r for r in resources}
    gp3 = table["services"]["ebs_gp3_gb_month"]
    for group in (r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup"):
        types = [str(t) for t in as_list(group.props.get("instanceTypes"))] or ["t3.medium"]  # EKS API default
        missing = [t for t in types if t not in table["ec2"]]
        if missing:
            unpriced.extend(f"EC2 {t} (node group {group.name})" for t in missing)
            continue
        spot = group.props.get("capacityType") == "SPOT"
        factor = 1 - prices.SPOT_DISCOUNT if spot else 1.0
        templates = [by_urn[d] for d in group.dependencies if d in by_urn and by_urn[d].type == "aws:ec2/launchTemplate:LaunchTemplate"]
        disk = sum(float(get(m, "ebs.volumeSize", 0) or 0) for t in templates for m in as_list(t.props.get("blockDeviceMappings")))
        disk = disk or float(group.props.get("diskSize") or EKS_DEFAULT_DISK_GIB)
        low, high = min(table["ec2"][t] for t in types), max(table["ec2"][t] for t in types)
        size_min = float(get(group.props, "scalingConfig.minSize", 0))
        size_max = float(get(group.props, "scalingConfig.maxSize", 0))
        per_node = lambda hourly: hourly * factor * H + disk * gp3  # noqa: E731
        yield Line("node pools", f"{group.name} ({'spot' if spot else 'on-demand'})",
                   f"{size_min:g}-{size_max:g} x {'/'.join(types)}, {disk:g} GiB gp3 each",
                   size_min * per_node(low), size_max * per_node(high))


def clusters(resources: list[Resource], table: Table, _unpriced: list[str]) -> Iterable[Line]:
    """EKS control planes: standard support, extended support as the maximum where the stack keeps it."""
    services = table["services"]
    for cluster in (r for r in resources if r.type == "aws:eks/cluster:Cluster"):
        extended = get(cluster.props, "upgradePolicy.supportType", "EXTENDED") == "EXTENDED"  # EKS's default is EXTENDED
        high = services["eks_cluster_extended_hour"] if extended else services["eks_cluster_hour"]
        yield Line("EKS control plane", cluster.name, f"Kubernetes {cluster.props.get('version')}"
                   + (", extended support as max" if extended else ""), services["eks_cluster_hour"] * H, high * H)


def network(resources: list[Resource], table: Table, _unpriced: list[str]) -> Iterable[Line]:
    """NAT gateways (hours + assumed data), their public IPv4 addresses, interface VPC endpoints (per AZ)."""
    services = table["services"]
    nats = [r for r in resources if r.type == "aws:ec2/natGateway:NatGateway"]
    if nats:
        each = services["nat_gateway_hour"] * H + services["nat_gateway_gb"] * NAT_GB_PER_MONTH
        yield Line("network", "NAT gateways", f"{len(nats)} x ({services['nat_gateway_hour']}/h + {NAT_GB_PER_MONTH} GB)",
                   len(nats) * each, len(nats) * each)
    eips = [r for r in resources if r.type == "aws:ec2/eip:Eip"]
    if eips:
        each = services["public_ipv4_hour"] * H
        yield Line("network", "public IPv4 addresses", f"{len(eips)} Elastic IPs", len(eips) * each, len(eips) * each)
    endpoint_azs = sum(len(as_list(r.props.get("subnetIds"))) for r in resources
                       if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and r.props.get("vpcEndpointType") == "Interface")
    if endpoint_azs:
        cost = endpoint_azs * services["interface_endpoint_az_hour"] * H
        yield Line("network", "interface VPC endpoints", f"{endpoint_azs} endpoint-AZs", cost, cost)


def load_balancers(resources: list[Resource], table: Table, _unpriced: list[str]) -> Iterable[Line]:
    """Network load balancers: declared ones, Kubernetes Services of type LoadBalancer and Istio gateway
    releases (one NLB each, made by the AWS Load Balancer Controller)."""
    services = table["services"]
    count = sum(1 for r in resources if r.type == "aws:lb/loadBalancer:LoadBalancer" and r.props.get("loadBalancerType") == "network")
    count += sum(1 for r in resources if r.type == "kubernetes:core/v1:Service" and get(r.props, "spec.type") == "LoadBalancer")
    # A Service a chart renders is not in the plan: Istio's gateway chart makes a LoadBalancer Service
    # unless its values say otherwise (tests/data/charts/gateway-*/values.yaml, service.type).
    count += sum(1 for r in resources if r.type == "kubernetes:helm.sh/v3:Release" and r.props.get("chart") == "gateway"
                 and (get(r.props, "values.service.type") or "LoadBalancer") == "LoadBalancer")
    if count:
        each = (services["nlb_hour"] + services["nlb_lcu_hour"] * LB_LCU) * H
        yield Line("load balancers", "network load balancers", f"{count} x NLB", count * each, count * each)


def _scaling_maxima(resources: list[Resource]) -> dict[str, float]:
    """Application Auto Scaling targets by resource id ("endpoint/<name>/variant/<variant>") -> maxCapacity."""
    return {str(r.props.get("resourceId")): float(r.props.get("maxCapacity") or 0) for r in resources
            if r.type == "aws:appautoscaling/target:Target" and r.props.get("scalableDimension") == "sagemaker:variant:DesiredInstanceCount"}


def sagemaker(resources: list[Resource], table: Table, unpriced: list[str]) -> Iterable[Line]:
    """SageMaker real-time endpoints: each variant's instances, at its initial count (min) and at its
    autoscaling maximum where a scalable target names it (max). Serverless variants bill per request:
    not estimated."""
    by_urn = {r.urn: r for r in resources}
    maxima = _scaling_maxima(resources)
    for endpoint in (r for r in resources if r.type == "aws:sagemaker/endpoint:Endpoint"):
        configs = [by_urn[d] for d in endpoint.dependencies
                   if d in by_urn and by_urn[d].type == "aws:sagemaker/endpointConfiguration:EndpointConfiguration"]
        for config in configs:
            for variant in as_list(config.props.get("productionVariants")):
                kind, count = get(variant, "instanceType"), float(get(variant, "initialInstanceCount", 1) or 1)
                if not kind:
                    continue  # serverless
                if kind not in table["sagemaker"]:
                    unpriced.append(f"SageMaker {kind} (endpoint {endpoint.name})")
                    continue
                name = get(variant, "variantName", "")
                most = max(count, maxima.get(f"endpoint/{endpoint.props.get('name')}/variant/{name}", count))
                hourly = table["sagemaker"][kind] * H
                shown = f"{count:g} x {kind}" if most == count else f"{count:g}-{most:g} x {kind}"
                yield Line("SageMaker", f"{endpoint.name}/{name}", shown, count * hourly, most * hourly)


def storage(resources: list[Resource], table: Table, _unpriced: list[str]) -> Iterable[Line]:
    """S3 buckets and ECR repositories (assumed sizes), KMS keys."""
    services = table["services"]
    buckets = sum(1 for r in resources if r.type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"))
    if buckets:
        cost = buckets * BUCKET_GB * services["s3_standard_gb_month"]
        yield Line("storage", "S3 buckets", f"{buckets} x {BUCKET_GB} GB", cost, cost)
    repositories = sum(1 for r in resources if r.type == "aws:ecr/repository:Repository")
    if repositories:
        cost = repositories * REPOSITORY_GB * services["ecr_gb_month"]
        yield Line("storage", "ECR repositories", f"{repositories} x {REPOSITORY_GB} GB", cost, cost)
    keys = sum(1 for r in resources if r.type == "aws:kms/key:Key")
    if keys:
        yield Line("storage", "KMS keys", f"{keys} keys", keys * services["kms_key_month"], keys * services["kms_key_month"])


PRICERS: list[Pricer] = [node_pools, clusters, network, load_balancers, sagemaker, storage]


def estimate(resources: list[Resource], region: str) -> Estimate:
    """The monthly cost of `resources` in `region`."""
    if region not in prices.REGIONS:
        return Estimate(region=region, unpriced=[f"region {region} (prices for {sorted(prices.REGIONS)}; add it to policies/prices.py)"])
    unpriced: list[str] = []
    table = prices.REGIONS[region]
    resources = sorted(resources, key=lambda r: (r.type, r.name))  # registration order varies between runs
    lines = [line for pricer in PRICERS for line in pricer(resources, table, unpriced)]
    return Estimate(region=region, lines=lines, unpriced=unpriced)


def render(result: Estimate, stack: str) -> list[str]:
    """The estimate as text lines for `make preview`."""
    out = [f"Estimated monthly cost, stack '{stack}' ({result.region}; on-demand list prices as of "
           f"{prices.PRICES_AS_OF}, policies/prices.py):"]
    width = max([len(f"{l.category}: {l.item}") for l in result.lines] + [17])
    out.append(f"  {'':<{width}}  {'at min size':>11}  {'at max size':>11}")
    for line in result.lines:
        out.append(f"  {f'{line.category}: {line.item}':<{width}}  ${line.monthly_min:>10,.2f}  ${line.monthly_max:>10,.2f}  {line.detail}")
    out.append(f"  {'total (min / max)':<{width}}  ${result.monthly_min:>10,.2f}  ${result.monthly_max:>10,.2f}")
    for item in result.unpriced:
        out.append(f"  not priced: {item}")
    out.append("  assumptions: " + "; ".join(ASSUMPTIONS))
    out.append("  sources: " + ", ".join(prices.SOURCES.values()))
    return out
