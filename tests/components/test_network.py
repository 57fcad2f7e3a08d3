import ipaddress
import json
from itertools import combinations

import pulumi
import pulumi_aws as aws
import pytest

from components.network import (
    Network,
    NetworkArgs,
    nat_gateway_for_each_az,
    plan_subnet_cidrs,
)

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
NAT = "aws:ec2/natGateway:NatGateway"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"

ZONES_3 = ("us-west-2a", "us-west-2b", "us-west-2c")


def _args(**overrides) -> NetworkArgs:
    values = dict(
        region="us-west-2",
        vpc_cidr="10.20.0.0/16",
        availability_zones=ZONES_3,
        nat_gateways="one-per-az",
        cluster_name="mlserve-prod",
    )
    return NetworkArgs(**{**values, **overrides})


@pytest.fixture
def network_plan(run_pulumi):
    """Build a Network (args overridable) and return the plan."""

    def build(**overrides):
        args = _args(**overrides)
        return run_pulumi(lambda: Network("net", args), config={"mlserve:region": args.region})

    return build


def _subnets(plan, role_tag):
    return [s for s in plan.of_type(SUBNET) if s.inputs["tags"].get(role_tag) == "1"]


def _private(plan):
    return _subnets(plan, "kubernetes.io/role/internal-elb")


def _public(plan):
    return _subnets(plan, "kubernetes.io/role/elb")


def _by_id(plan, type_token, resource_id):
    """The resource of a type that an input points at (the mock engine's IDs are "<name>-id")."""
    (found,) = [r for r in plan.of_type(type_token) if r.id == resource_id]
    return found


def _route_table_of(plan, subnet):
    association = next(a for a in plan.of_type(ASSOCIATION) if a.inputs["subnetId"] == subnet.id)
    return _by_id(plan, ROUTE_TABLE, association.inputs["routeTableId"])


def _default_route(plan, route_table):
    routes = [r for r in plan.of_type(ROUTE)
              if r.inputs["routeTableId"] == route_table.id and r.inputs["destinationCidrBlock"] == "0.0.0.0/0"]
    assert len(routes) == 1, route_table.name
    return routes[0]


# --- the pure subnet planner -----------------------------------------------------------------

@pytest.mark.parametrize("vpc_cidr", ["10.0.0.0/16", "10.20.0.0/16", "172.16.0.0/20", "172.31.128.0/17",
                                      "192.168.0.0/22", "192.168.7.0/24", "10.255.64.0/18"])
@pytest.mark.parametrize("az_count", [1, 2, 3])
def test_planned_subnets_fit_the_vpc_without_overlapping(vpc_cidr, az_count):
    vpc = ipaddress.ip_network(vpc_cidr)
    planned = plan_subnet_cidrs(vpc_cidr, az_count)
    public = [ipaddress.ip_network(c) for c in planned.public]
    private = [ipaddress.ip_network(c) for c in planned.private]

    assert len(public) == len(private) == az_count
    for subnet in public + private:
        assert subnet.subnet_of(vpc), subnet
        # AWS's smallest subnet is a /28.
        assert subnet.prefixlen <= 28, subnet
    for a, b in combinations(public + private, 2):
        assert not a.overlaps(b), (a, b)
    # Pods take VPC IPs (VPC CNI): every private subnet is larger than any public one.
    assert min(s.num_addresses for s in private) > max(s.num_addresses for s in public)


def test_a_16_gives_large_private_subnets():
    planned = plan_subnet_cidrs("10.20.0.0/16", 3)
    assert planned.private == ("10.20.0.0/18", "10.20.64.0/18", "10.20.128.0/18")
    assert planned.public == ("10.20.192.0/20", "10.20.208.0/20", "10.20.224.0/20")


def test_adding_an_az_keeps_the_existing_subnets():
    two, three = plan_subnet_cidrs("10.20.0.0/16", 2), plan_subnet_cidrs("10.20.0.0/16", 3)
    assert three.private[:2] == two.private and three.public[:2] == two.public


@pytest.mark.parametrize("az_count", [0, 4])
def test_planner_rejects_az_counts_it_cannot_fit(az_count):
    with pytest.raises(ValueError, match="az_count"):
        plan_subnet_cidrs("10.20.0.0/16", az_count)


def test_nat_placement_per_mode():
    assert nat_gateway_for_each_az("single", 3) == (0, 0, 0)
    assert nat_gateway_for_each_az("one-per-az", 3) == (0, 1, 2)


# --- subnets -------------------------------------------------------------------------------

@pytest.mark.parametrize("zones", [ZONES_3[:2], ZONES_3])
def test_one_public_and_one_private_subnet_in_exactly_each_zone(network_plan, zones):
    plan = network_plan(availability_zones=zones)
    assert sorted(s.inputs["availabilityZone"] for s in _public(plan)) == sorted(zones)
    assert sorted(s.inputs["availabilityZone"] for s in _private(plan)) == sorted(zones)
    assert len(plan.of_type(SUBNET)) == 2 * len(zones)


def test_subnets_lie_inside_the_vpc_and_do_not_overlap(network_plan):
    plan = network_plan()
    vpc = plan.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.20.0.0/16"
    vpc_network = ipaddress.ip_network(vpc.inputs["cidrBlock"])
    subnets = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in plan.of_type(SUBNET)]
    assert all(s.subnet_of(vpc_network) for s in subnets)
    assert not any(a.overlaps(b) for a, b in combinations(subnets, 2))
    assert all(s.inputs["vpcId"] == vpc.id for s in plan.of_type(SUBNET))


def test_load_balancer_role_tags_are_on_the_right_subnets(network_plan):
    plan = network_plan()
    cluster_tag = "kubernetes.io/cluster/mlserve-prod"
    for subnet in _public(plan):
        assert "kubernetes.io/role/internal-elb" not in subnet.inputs["tags"]
        assert subnet.inputs["tags"][cluster_tag] == "shared"
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    for subnet in _private(plan):
        assert "kubernetes.io/role/elb" not in subnet.inputs["tags"]
        assert subnet.inputs["tags"][cluster_tag] == "shared"
    # Public subnets route to the internet gateway.
    igw = plan.one("aws:ec2/internetGateway:InternetGateway")
    for subnet in _public(plan):
        assert _default_route(plan, _route_table_of(plan, subnet)).inputs["gatewayId"] == igw.id


def test_vpc_resolves_dns_for_private_endpoints(network_plan):
    vpc = network_plan().one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


# --- NAT -----------------------------------------------------------------------------------

def _nat_zone(plan, nat):
    return _by_id(plan, SUBNET, nat.inputs["subnetId"]).inputs["availabilityZone"]


def test_single_nat_in_the_first_zone_serves_every_private_subnet(network_plan):
    plan = network_plan(nat_gateways="single")
    nat = plan.one(NAT)
    assert _by_id(plan, SUBNET, nat.inputs["subnetId"]) in _public(plan)
    assert _nat_zone(plan, nat) == ZONES_3[0]
    assert _by_id(plan, "aws:ec2/eip:Eip", nat.inputs["allocationId"]).inputs["domain"] == "vpc"
    for subnet in _private(plan):
        assert _default_route(plan, _route_table_of(plan, subnet)).inputs["natGatewayId"] == nat.id


def test_one_nat_per_zone_and_each_private_subnet_leaves_through_its_own(network_plan):
    plan = network_plan(nat_gateways="one-per-az")
    nats = plan.of_type(NAT)
    assert sorted(_nat_zone(plan, nat) for nat in nats) == sorted(ZONES_3)
    for nat in nats:
        assert _by_id(plan, SUBNET, nat.inputs["subnetId"]) in _public(plan)
    for subnet in _private(plan):
        route = _default_route(plan, _route_table_of(plan, subnet))
        nat = _by_id(plan, NAT, route.inputs["natGatewayId"])
        assert _nat_zone(plan, nat) == subnet.inputs["availabilityZone"], subnet.name


# --- VPC endpoints -------------------------------------------------------------------------

@pytest.mark.parametrize("region", ["us-west-2", "eu-central-1"])
def test_endpoints_use_the_regions_service_names(network_plan, region):
    zones = (f"{region}a", f"{region}b")
    plan = network_plan(region=region, availability_zones=zones)
    by_service = {e.inputs["serviceName"]: e for e in plan.of_type(ENDPOINT)}
    assert set(by_service) == {f"com.amazonaws.{region}.{s}" for s in ("ecr.api", "ecr.dkr", "sts", "logs", "s3")}


def test_interface_endpoints_sit_in_the_private_subnets_with_private_dns(network_plan):
    plan = network_plan()
    private_ids = sorted(s.id for s in _private(plan))
    security_group = plan.one("aws:ec2/securityGroup:SecurityGroup")
    interface = [e for e in plan.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]
    assert sorted(e.inputs["serviceName"] for e in interface) == sorted(
        f"com.amazonaws.us-west-2.{s}" for s in ("ecr.api", "ecr.dkr", "sts", "logs"))
    for endpoint in interface:
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert sorted(endpoint.inputs["subnetIds"]) == private_ids
        assert endpoint.inputs["securityGroupIds"] == [security_group.id]


def test_s3_gateway_endpoint_is_on_every_private_route_table(network_plan):
    plan = network_plan()
    s3 = next(e for e in plan.of_type(ENDPOINT) if e.inputs["serviceName"] == "com.amazonaws.us-west-2.s3")
    assert s3.inputs["vpcEndpointType"] == "Gateway"
    private_tables = {_route_table_of(plan, subnet).id for subnet in _private(plan)}
    assert len(private_tables) == len(ZONES_3)
    assert set(s3.inputs["routeTableIds"]) == private_tables


def test_endpoint_security_group_allows_only_https_from_the_vpc(network_plan):
    plan = network_plan(vpc_cidr="10.42.0.0/16")
    security_group = plan.one("aws:ec2/securityGroup:SecurityGroup")
    rules = security_group.inputs["ingress"]
    assert len(rules) == 1
    (rule,) = rules
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["cidrBlocks"] == ["10.42.0.0/16"]
    assert not rule.get("ipv6CidrBlocks") and not rule.get("securityGroups") and not rule.get("self")
    assert not security_group.inputs.get("egress")


# --- flow logs -----------------------------------------------------------------------------

def test_flow_logs_capture_all_traffic_to_a_log_group_with_retention(network_plan):
    plan = network_plan(flow_logs_retention_days=90)
    flow_log = plan.one("aws:ec2/flowLog:FlowLog")
    log_group = plan.one("aws:cloudwatch/logGroup:LogGroup")
    role = plan.one("aws:iam/role:Role")
    assert flow_log.inputs["vpcId"] == plan.one("aws:ec2/vpc:Vpc").id
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs"
    assert flow_log.inputs["logDestination"] == log_group.outputs["arn"]
    assert flow_log.inputs["iamRoleArn"] == role.outputs["arn"]
    assert log_group.inputs["retentionInDays"] == 90


def test_flow_logs_role_is_assumable_only_by_the_flow_logs_service_of_this_account(network_plan):
    plan = network_plan()
    trust = json.loads(plan.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:ec2:us-west-2:123456789012:vpc-flow-log/*"}

    log_group_arn = plan.one("aws:cloudwatch/logGroup:LogGroup").outputs["arn"]
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    writes = next(s for s in policy["Statement"] if "logs:PutLogEvents" in s["Action"])
    assert set(writes["Resource"]) == {log_group_arn, f"{log_group_arn}:*"}


# --- shape ---------------------------------------------------------------------------------

def test_children_are_parented_to_the_component_and_inherit_its_provider(run_pulumi):
    def program():
        provider = aws.Provider("aws-west", region="us-west-2")
        Network("net", _args(nat_gateways="single"), pulumi.ResourceOptions(provider=provider))

    plan = run_pulumi(program)
    component = plan.one("mlserve:network:Network", "net")
    provider = plan.one("pulumi:providers:aws", "aws-west")
    children = [r for r in plan.resources if r.package == "aws"]
    assert len(children) > 20
    for child in children:
        assert child.parent == component.urn, child.name
        assert child.provider.startswith(provider.urn + "::"), child.name


def test_outputs(run_pulumi):
    def program():
        network = Network("net", _args(availability_zones=ZONES_3[:2]))
        pulumi.export("vpc_id", network.vpc_id)
        pulumi.export("vpc_cidr", network.vpc_cidr)
        pulumi.export("public", network.public_subnet_ids)
        pulumi.export("private", network.private_subnet_ids)

    plan = run_pulumi(program)
    assert plan.exports["vpc_id"] == plan.one("aws:ec2/vpc:Vpc").id
    assert plan.exports["vpc_cidr"] == "10.20.0.0/16"
    # In the order of the AZs, so callers can zip them.
    assert plan.exports["public"] == [plan.one(SUBNET, f"net-public-{z}").id for z in ZONES_3[:2]]
    assert plan.exports["private"] == [plan.one(SUBNET, f"net-private-{z}").id for z in ZONES_3[:2]]


# --- bad args ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"availability_zones": ("us-west-2a",)}, "availability_zones"),
        ({"availability_zones": ("us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d")}, "availability_zones"),
        ({"availability_zones": ("us-west-2a", "us-west-2a")}, "availability_zones"),
        ({"availability_zones": ("us-west-2a", "us-east-1b")}, "availability_zones"),
        ({"vpc_cidr": "10.20.0.0"}, "vpc_cidr"),
        ({"vpc_cidr": "not-a-cidr"}, "vpc_cidr"),
        ({"vpc_cidr": "10.20.0.1/16"}, "vpc_cidr"),
        ({"vpc_cidr": "10.0.0.0/8"}, "vpc_cidr"),
        ({"vpc_cidr": "10.20.0.0/26"}, "vpc_cidr"),
        ({"vpc_cidr": "8.8.0.0/16"}, "vpc_cidr"),
        ({"nat_gateways": "none"}, "nat_gateways"),
        ({"nat_gateways": "per-az"}, "nat_gateways"),
        ({"cluster_name": "-bad"}, "cluster_name"),
        ({"cluster_name": ""}, "cluster_name"),
        ({"region": "uswest2"}, "region"),
        ({"flow_logs_retention_days": 0}, "flow_logs_retention_days"),
        ({"flow_logs_retention_days": 31}, "flow_logs_retention_days"),
    ],
)
def test_bad_args_are_rejected_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        _args(**overrides)


def test_zones_given_as_a_list_are_stored_as_a_tuple():
    assert _args(availability_zones=list(ZONES_3[:2])).availability_zones == ZONES_3[:2]
