"""The VPC the EKS cluster runs in: public and private subnets per AZ, NAT, VPC endpoints, flow logs.

Nodes and pods live in the private subnets; the public ones hold only load balancers and the
NAT gateways. Image pulls (ECR API, registry and the S3 layers behind it), STS calls made by
IRSA and CloudWatch Logs go through VPC endpoints rather than the NAT: cheaper per GB, and
they keep working if the NAT or the internet path fails.
https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.cloudwatch import LOG_RETENTION_DAYS
from components.flow_logs import declare_flow_logs

NatGateways = Literal["single", "one-per-az"]
NAT_GATEWAY_MODES: tuple[str, ...] = ("single", "one-per-az")

# AWS allows VPCs from /16 to /28; below /24 the private /26 subnets this plan gives would be
# too small for pods that each take a VPC IP (VPC CNI), and the public /28 is AWS's smallest subnet.
# https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html
VPC_PREFIX_MIN, VPC_PREFIX_MAX = 16, 24
# RFC 1918: AWS recommends these for VPCs, and EKS pod IPs must not collide with public ranges.
_PRIVATE_RANGES = tuple(ipaddress.IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))

# Interface endpoints a private EKS node needs so that pulling images, assuming IRSA roles and
# shipping logs never leave the VPC. ECR also needs the S3 gateway endpoint (layers are in S3).
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
INTERFACE_ENDPOINT_SERVICES: tuple[str, ...] = ("ecr.api", "ecr.dkr", "sts", "logs")
GATEWAY_ENDPOINT_SERVICES: tuple[str, ...] = ("s3",)
# With the SageMaker target: InvokeEndpoint (the checks, callers in the VPC) and the SageMaker API
# stay inside the VPC too. https://docs.aws.amazon.com/sagemaker/latest/dg/interface-vpc-endpoint.html
SAGEMAKER_ENDPOINT_SERVICES: tuple[str, ...] = ("sagemaker.api", "sagemaker.runtime")

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
# https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html#API_CreateCluster_RequestSyntax
_CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """What differs between the networks of two stacks."""

    region: str
    """AWS region, e.g. "us-west-2". VPC endpoint service names are per region; must be the
    region of the provider passed in `opts`."""

    vpc_cidr: str
    """IPv4 CIDR of the VPC, e.g. "10.20.0.0/16": /16 to /24, inside an RFC 1918 range."""

    availability_zones: tuple[str, ...]
    """2 or 3 distinct AZs of `region`, e.g. ("us-west-2a", "us-west-2b"). EKS needs subnets in
    at least two. Lists are accepted and stored as a tuple."""

    nat_gateways: NatGateways
    """"single": one NAT gateway in the first AZ for all private subnets (cheap, dev; an AZ
    outage cuts egress everywhere). "one-per-az": each AZ's private subnet leaves through its
    own NAT (HA, prod; no cross-AZ data charges)."""

    cluster_name: str
    """Name of the EKS cluster that will use the subnets; goes into the subnet discovery tags."""

    flow_logs_retention_days: int = 30
    """Default 30. Days VPC flow logs are kept in CloudWatch Logs; one of the values
    CloudWatch accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."""

    sagemaker_endpoints: bool = False
    """Default False. True (the SageMaker target): interface endpoints for the SageMaker API and runtime."""

    protect: bool = False
    """Default False. Sets Pulumi's `protect` on the VPC and on what holds data (the flow-log
    group and its key): `pulumi destroy` stops before deleting them (a stack with deletion protection)."""

    def __post_init__(self) -> None:
        # A config loader hands lists; keep the frozen value immutable.
        object.__setattr__(self, "availability_zones", tuple(self.availability_zones))
        if not _REGION.fullmatch(self.region):
            raise ValueError(f"region {self.region!r} is not an AWS region name such as 'us-west-2'")
        _check_vpc_cidr(self.vpc_cidr)
        zones = self.availability_zones
        if not 2 <= len(zones) <= 3:
            raise ValueError(f"availability_zones needs 2 or 3 zones, got {len(zones)}: {list(zones)}")
        if len(set(zones)) != len(zones):
            raise ValueError(f"availability_zones must be distinct, got {list(zones)}")
        foreign = [zone for zone in zones if not re.fullmatch(re.escape(self.region) + r"[a-z]", zone)]
        if foreign:
            raise ValueError(f"availability_zones {foreign} are not zones of region {self.region!r} (e.g. '{self.region}a')")
        if self.nat_gateways not in NAT_GATEWAY_MODES:
            raise ValueError(f"nat_gateways must be one of {list(NAT_GATEWAY_MODES)}, got {self.nat_gateways!r}")
        if not _CLUSTER_NAME.fullmatch(self.cluster_name):
            raise ValueError(
                f"cluster_name {self.cluster_name!r} is not a valid EKS cluster name "
                "(1-100 letters, digits, '-', '_', starting with a letter or digit)"
            )
        if self.flow_logs_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"flow_logs_retention_days {self.flow_logs_retention_days} is not a CloudWatch retention value; "
                f"allowed: {list(LOG_RETENTION_DAYS)}"
            )


def _check_vpc_cidr(vpc_cidr: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(vpc_cidr)  # strict: "10.20.0.1/16" has host bits set
    except ValueError as error:
        raise ValueError(f"vpc_cidr {vpc_cidr!r} is not an IPv4 network CIDR: {error}") from None
    if not VPC_PREFIX_MIN <= network.prefixlen <= VPC_PREFIX_MAX:
        raise ValueError(f"vpc_cidr {vpc_cidr!r} must be /{VPC_PREFIX_MIN} to /{VPC_PREFIX_MAX}, got /{network.prefixlen}")
    if not any(network.subnet_of(block) for block in _PRIVATE_RANGES):
        raise ValueError(f"vpc_cidr {vpc_cidr!r} must lie in an RFC 1918 range (10/8, 172.16/12, 192.168/16)")
    return network


@dataclass(frozen=True)
class SubnetCidrs:
    """Subnet CIDRs per AZ, in the order of the AZs."""

    public: tuple[str, ...]
    private: tuple[str, ...]


def plan_subnet_cidrs(vpc_cidr: str, az_count: int) -> SubnetCidrs:
    """Carve the VPC into one private and one public subnet per AZ.

    The VPC is split in quarters. Each AZ's private subnet is a whole quarter (a /18 of a /16:
    16,379 usable IPs), since with the VPC CNI every pod takes one. The last quarter is split
    in four for the public subnets (a /20 of a /16), which only hold load balancers and NAT
    gateways. With 2 AZs the third quarter stays free for a third AZ, so adding one later moves
    no existing subnet.
    """
    vpc = _check_vpc_cidr(vpc_cidr)
    if not 1 <= az_count <= 3:
        raise ValueError(f"az_count must be 1 to 3 (three private quarters and one public quarter), got {az_count}")
    quarters = list(vpc.subnets(prefixlen_diff=2))
    public_slots = list(quarters[3].subnets(prefixlen_diff=2))
    return SubnetCidrs(
        public=tuple(str(subnet) for subnet in public_slots[:az_count]),
        private=tuple(str(subnet) for subnet in quarters[:az_count]),
    )


def nat_gateway_for_each_az(nat_gateways: NatGateways, az_count: int) -> tuple[int, ...]:
    """For each AZ (by index), the index of the AZ whose NAT gateway its private subnet uses.

    "single" -> every AZ uses the NAT in AZ 0; "one-per-az" -> every AZ uses its own.
    The NAT gateways to create are the distinct values.
    """
    if nat_gateways == "single":
        return (0,) * az_count
    if nat_gateways == "one-per-az":
        return tuple(range(az_count))
    raise ValueError(f"nat_gateways must be one of {list(NAT_GATEWAY_MODES)}, got {nat_gateways!r}")


def endpoint_service_name(region: str, service: str) -> str:
    """"us-west-2", "ecr.api" -> "com.amazonaws.us-west-2.ecr.api"."""
    return f"com.amazonaws.{region}.{service}"


class Network(pulumi.ComponentResource):
    """A VPC with public and private subnets per AZ, NAT gateway(s), VPC endpoints and flow logs."""

    vpc_id: pulumi.Output[str]
    """ID of the VPC."""

    public_subnet_ids: list[pulumi.Output[str]]
    """Public subnet IDs, one per AZ in the order of `availability_zones` (internet-facing load balancers)."""

    private_subnet_ids: list[pulumi.Output[str]]
    """Private subnet IDs, one per AZ in the order of `availability_zones` (nodes, pods, internal load balancers)."""

    vpc_cidr: pulumi.Output[str]
    """CIDR block of the VPC."""

    s3_prefix_list_id: pulumi.Output[str]
    """The S3 gateway endpoint's prefix list ("pl-..."), for security group egress to S3."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = args.availability_zones
        cidrs = plan_subnet_cidrs(args.vpc_cidr, len(zones))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            # Both are required for interface endpoints' private DNS names to resolve in the VPC.
            # https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html#interface-endpoint-private-dns
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": f"{name}-vpc"},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        # The default security group, adopted and emptied (CKV2_AWS_12, CIS AWS 5.4): anything
        # launched without a group of its own gets no traffic at all instead of "allow all within
        # the group". Empty lists remove every rule AWS created; on destroy the group is only
        # forgotten (AWS deletes it with the VPC). terraform-aws-modules/vpc does the same by default.
        # https://www.pulumi.com/registry/packages/aws/api-docs/ec2/defaultsecuritygroup/
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags={"Name": f"{name}-default-closed"},
            opts=child,
        )
        internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child,
        )

        # Subnet discovery tags: the AWS Load Balancer Controller puts internet-facing load
        # balancers in subnets tagged role/elb and internal ones in role/internal-elb.
        # https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html#network-requirements-subnets
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for zone, public_cidr, private_cidr in zip(zones, cidrs.public, cidrs.private):
            public_subnets.append(aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=public_cidr,
                # Nothing launched here needs a public IP of its own: load balancers and NAT
                # gateways get theirs explicitly, nodes live in the private subnets.
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1", **cluster_tag},
                opts=child,
            ))
            private_subnets.append(aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=private_cidr,
                tags={"Name": f"{name}-private-{zone}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                opts=child,
            ))

        # Routes are separate resources rather than inline `routes`: an inline list owns the
        # whole table and would fight any route added elsewhere.
        public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, tags={"Name": f"{name}-public-rt"}, opts=child,
        )
        aws.ec2.Route(
            f"{name}-public-rt-default",
            route_table_id=public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=internet_gateway.id,
            opts=child,
        )
        for zone, subnet in zip(zones, public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{zone}", subnet_id=subnet.id, route_table_id=public_route_table.id, opts=child,
            )

        nat_of_zone = nat_gateway_for_each_az(args.nat_gateways, len(zones))
        nat_gateways: dict[int, aws.ec2.NatGateway] = {}
        for index in sorted(set(nat_of_zone)):
            zone = zones[index]
            eip = aws.ec2.Eip(f"{name}-nat-eip-{zone}", domain="vpc", tags={"Name": f"{name}-nat-eip-{zone}"}, opts=child)
            nat_gateways[index] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=eip.id,
                subnet_id=public_subnets[index].id,
                tags={"Name": f"{name}-nat-{zone}"},
                # A public NAT gateway needs the VPC's internet gateway attached first.
                # https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-working-with.html
                opts=pulumi.ResourceOptions(parent=self, depends_on=[internet_gateway]),
            )

        # One private route table per AZ in both modes, so going from "single" to "one-per-az"
        # only changes routes, never which table a subnet uses.
        private_route_tables: list[aws.ec2.RouteTable] = []
        for index, (zone, subnet) in enumerate(zip(zones, private_subnets)):
            route_table = aws.ec2.RouteTable(
                f"{name}-private-rt-{zone}", vpc_id=vpc.id, tags={"Name": f"{name}-private-rt-{zone}"}, opts=child,
            )
            aws.ec2.Route(
                f"{name}-private-rt-{zone}-default",
                route_table_id=route_table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_gateways[nat_of_zone[index]].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{zone}", subnet_id=subnet.id, route_table_id=route_table.id, opts=child,
            )
            private_route_tables.append(route_table)

        # Interface endpoints answer on 443 only, and only to callers inside the VPC. No egress
        # rule: security groups are stateful, replies need none (and the provider removes AWS's
        # default allow-all egress when none is declared).
        # https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html#create-interface-endpoint-aws
        endpoint_security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to the interface VPC endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(
                description="HTTPS from the VPC",
                protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_blocks=[vpc.cidr_block],
            )],
            tags={"Name": f"{name}-endpoints"},
            opts=child,
        )
        interface_services = INTERFACE_ENDPOINT_SERVICES + (SAGEMAKER_ENDPOINT_SERVICES if args.sagemaker_endpoints else ())
        for service in interface_services:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=endpoint_service_name(args.region, service),
                vpc_endpoint_type="Interface",
                # With private DNS the SDKs' default hostnames (api.ecr.<region>.amazonaws.com ...)
                # resolve to the endpoint, so nothing running in the cluster needs configuring.
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in private_subnets],
                security_group_ids=[endpoint_security_group.id],
                tags={"Name": f"{name}-{service}"},
                opts=child,
            )
        gateways = {}
        for service in GATEWAY_ENDPOINT_SERVICES:
            # Gateway endpoints are free and work through route table entries, not ENIs.
            # https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html
            gateways[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=vpc.id,
                service_name=endpoint_service_name(args.region, service),
                vpc_endpoint_type="Gateway",
                route_table_ids=[route_table.id for route_table in private_route_tables],
                tags={"Name": f"{name}-{service}"},
                opts=child,
            )

        declare_flow_logs(name, cluster_name=args.cluster_name, region=args.region,
                          retention_days=args.flow_logs_retention_days, protect=args.protect, vpc=vpc, parent=self)

        self.vpc_id = vpc.id
        self.public_subnet_ids = [subnet.id for subnet in public_subnets]
        self.private_subnet_ids = [subnet.id for subnet in private_subnets]
        self.vpc_cidr = vpc.cidr_block
        self.s3_prefix_list_id = gateways["s3"].prefix_list_id
        self.register_outputs(
            {
                "s3_prefix_list_id": self.s3_prefix_list_id,
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "vpc_cidr": self.vpc_cidr,
            }
        )
