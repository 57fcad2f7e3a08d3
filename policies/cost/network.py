"""Network: NAT gateways and their public IPv4 addresses, interface VPC endpoints, network load
balancers, and data between Availability Zones."""

from __future__ import annotations

from typing import Iterable

from policies import prices
from policies.cost.model import Line, Pricing
from policies.props import as_list, get

H = prices.HOURS_PER_MONTH


def nat_and_endpoints(ctx: Pricing) -> Iterable[Line]:
    """NAT gateways (hours + assumed data), their public IPv4 addresses, interface VPC endpoints (per AZ)."""
    usage = ctx.usage
    nats = ctx.of_type("aws:ec2/natGateway:NatGateway")
    hour, gb = (ctx.service("nat_gateway_hour", "NAT gateways"), ctx.service("nat_gateway_gb", "NAT gateway data")) if nats else (None, None)
    if nats and hour is not None and gb is not None:
        each = hour * H + gb * usage.nat_gb_per_month
        yield Line("network", "NAT gateways", f"{len(nats)} x ({hour}/h + {usage.nat_gb_per_month:g} GB)",
                   len(nats) * each, len(nats) * each)
    eips = ctx.of_type("aws:ec2/eip:Eip")
    ipv4 = ctx.service("public_ipv4_hour", "public IPv4 addresses") if eips else None
    if ipv4 is not None:
        yield Line("network", "public IPv4 addresses", f"{len(eips)} Elastic IPs", len(eips) * ipv4 * H, len(eips) * ipv4 * H)
    endpoint_azs = sum(len(as_list(r.props.get("subnetIds"))) for r in ctx.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                       if r.props.get("vpcEndpointType") == "Interface")
    endpoint = ctx.service("interface_endpoint_az_hour", "interface VPC endpoints") if endpoint_azs else None
    if endpoint is not None:
        cost = endpoint_azs * endpoint * H
        yield Line("network", "interface VPC endpoints", f"{endpoint_azs} endpoint-AZs", cost, cost)


def load_balancers(ctx: Pricing) -> Iterable[Line]:
    """Network load balancers: declared ones, Kubernetes Services of type LoadBalancer and Istio gateway
    releases (one NLB each, made by the AWS Load Balancer Controller)."""
    count = sum(1 for r in ctx.of_type("aws:lb/loadBalancer:LoadBalancer") if r.props.get("loadBalancerType") == "network")
    count += sum(1 for r in ctx.of_type("kubernetes:core/v1:Service") if get(r.props, "spec.type") == "LoadBalancer")
    # A Service a chart renders is not in the plan: Istio's gateway chart makes a LoadBalancer Service
    # unless its values say otherwise (tests/data/charts/gateway-*/values.yaml, service.type).
    count += sum(1 for r in ctx.of_type("kubernetes:helm.sh/v3:Release") if r.props.get("chart") == "gateway"
                 and (get(r.props, "values.service.type") or "LoadBalancer") == "LoadBalancer")
    if not count:
        return
    hour, lcu = ctx.service("nlb_hour", "network load balancers"), ctx.service("nlb_lcu_hour", "load balancer capacity units")
    if hour is None or lcu is None:
        return
    each = (hour + lcu * ctx.usage.load_balancer_lcu) * H
    yield Line("load balancers", "network load balancers", f"{count} x NLB", count * each, count * each)


def availability_zones(ctx: Pricing) -> set[str]:
    """The AZs the plan's subnets are in."""
    return {str(r.props.get("availabilityZone")) for r in ctx.of_type("aws:ec2/subnet:Subnet") if r.props.get("availabilityZone")}


def cross_az(ctx: Pricing) -> Iterable[Line]:
    """Data between Availability Zones, billed on both sides (out of one AZ and into the other), when the
    plan's subnets span several AZs. A single-AZ plan has none."""
    zones = availability_zones(ctx)
    if len(zones) < 2:
        return
    price = ctx.service("cross_az_gb_each_way", "data between Availability Zones")
    if price is None:
        return
    gb = ctx.usage.cross_az_gb_per_month
    cost = gb * price * 2
    yield Line("network", "data between AZs", f"{gb:g} GB a month across {len(zones)} AZs, {price}/GB each way", cost, cost)
