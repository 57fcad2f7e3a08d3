"""Compute: EKS managed node groups (instances and root volumes), EKS control planes, SageMaker
real-time endpoint instances."""

from __future__ import annotations

from typing import Iterable

from policies import prices
from policies.cost.model import Line, Pricing, Resource
from policies.props import as_list, get

H = prices.HOURS_PER_MONTH
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EKS_DEFAULT_DISK_GIB = 20
"""A managed node group's root volume when no launch template sets one (EKS API default, CreateNodegroup diskSize)."""
EKS_DEFAULT_INSTANCE_TYPE = "t3.medium"
"""A managed node group's instance type when none is given (EKS API default, CreateNodegroup instanceTypes)."""
SAGEMAKER_VARIANT_COUNT = "sagemaker:variant:DesiredInstanceCount"


def node_range(ctx: Pricing) -> tuple[float, float]:
    """All node groups' nodes together at their minimum and maximum size."""
    groups = ctx.of_type(NODE_GROUP)
    return (sum(float(get(g.props, "scalingConfig.minSize", 0) or 0) for g in groups),
            sum(float(get(g.props, "scalingConfig.maxSize", 0) or 0) for g in groups))


def node_pools(ctx: Pricing) -> Iterable[Line]:
    """Managed node groups: instances plus their gp3 root volumes, at min and max size."""
    gp3 = ctx.service("ebs_gp3_gb_month", "node root volumes")
    for group in ctx.of_type(NODE_GROUP):
        types = [str(t) for t in as_list(group.props.get("instanceTypes"))] or [EKS_DEFAULT_INSTANCE_TYPE]
        missing = [t for t in types if t not in ctx.table["ec2"]]
        if missing:
            ctx.unpriced.extend(f"EC2 {t} (node group {group.name})" for t in missing)
            continue
        spot = group.props.get("capacityType") == "SPOT"
        factor = 1 - ctx.usage.spot_discount if spot else 1.0
        templates = ctx.dependencies_of(group, LAUNCH_TEMPLATE)
        disk = sum(float(get(m, "ebs.volumeSize", 0) or 0) for t in templates for m in as_list(t.props.get("blockDeviceMappings")))
        disk = disk or float(group.props.get("diskSize") or EKS_DEFAULT_DISK_GIB)
        low, high = min(ctx.table["ec2"][t] for t in types), max(ctx.table["ec2"][t] for t in types)
        size_min = float(get(group.props, "scalingConfig.minSize", 0) or 0)
        size_max = float(get(group.props, "scalingConfig.maxSize", 0) or 0)

        def per_node(hourly: float) -> float:
            return hourly * factor * H + disk * (gp3 or 0)
        yield Line("node pools", f"{group.name} ({'spot' if spot else 'on-demand'})",
                   f"{size_min:g}-{size_max:g} x {'/'.join(types)}, {disk:g} GiB gp3 each",
                   size_min * per_node(low), size_max * per_node(high))


def clusters(ctx: Pricing) -> Iterable[Line]:
    """EKS control planes: standard support, extended support as the maximum where the stack keeps it."""
    standard = ctx.service("eks_cluster_hour", "EKS control plane")
    for cluster in ctx.of_type("aws:eks/cluster:Cluster"):
        extended = get(cluster.props, "upgradePolicy.supportType", "EXTENDED") == "EXTENDED"  # EKS's default is EXTENDED
        high = ctx.service("eks_cluster_extended_hour", "EKS extended support") if extended else standard
        if standard is None or high is None:
            continue
        yield Line("EKS control plane", cluster.name, f"Kubernetes {cluster.props.get('version')}"
                   + (", extended support as max" if extended else ""), standard * H, high * H)


def _scaling_targets(ctx: Pricing) -> dict[str, Resource]:
    """Application Auto Scaling targets of SageMaker variants, by resource id "endpoint/<name>/variant/<variant>"."""
    return {str(r.props.get("resourceId")): r for r in ctx.of_type("aws:appautoscaling/target:Target")
            if r.props.get("scalableDimension") == SAGEMAKER_VARIANT_COUNT}


def sagemaker(ctx: Pricing) -> Iterable[Line]:
    """SageMaker real-time endpoints: each variant's instances from the least to the most its autoscaling
    target allows (minCapacity..maxCapacity); a variant without a target runs its initialInstanceCount.
    The initial count is only where a fresh endpoint starts: the target scales in to its minimum when
    traffic is low, so the minimum is what the bill can fall to. Serverless variants bill per request:
    listed as excluded."""
    targets = _scaling_targets(ctx)
    for endpoint in ctx.of_type("aws:sagemaker/endpoint:Endpoint"):
        for config in ctx.dependencies_of(endpoint, "aws:sagemaker/endpointConfiguration:EndpointConfiguration"):
            for variant in as_list(config.props.get("productionVariants")):
                name, kind = get(variant, "variantName", ""), get(variant, "instanceType")
                if not kind:
                    ctx.excluded.append(f"SageMaker serverless variant {endpoint.name}/{name} (billed per request)")
                    continue
                if kind not in ctx.table["sagemaker"]:
                    ctx.unpriced.append(f"SageMaker {kind} (endpoint {endpoint.name})")
                    continue
                initial = float(get(variant, "initialInstanceCount", 1) or 1)
                target = targets.get(f"endpoint/{endpoint.props.get('name')}/variant/{name}")
                low = float(target.props.get("minCapacity") or initial) if target else initial
                high = float(target.props.get("maxCapacity") or initial) if target else initial
                hourly = ctx.table["sagemaker"][kind] * H
                shown = f"{low:g} x {kind}" if low == high else f"{low:g}-{high:g} x {kind}"
                how = "autoscaling min-max" if target else "instance count, no autoscaling"
                yield Line("SageMaker", f"{endpoint.name}/{name}", f"{shown} ({how})", low * hourly, high * hourly)
