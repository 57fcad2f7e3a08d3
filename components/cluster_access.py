"""Who may reach the EKS API: rules for the public endpoint's CIDRs and for the private path a
deploy runner takes, shared by `ClusterArgs` and the settings loader so both say the same thing.

The rules are pure functions; `create_admin_access` and `allow_private_access` declare the
access entries and security group rules a `Cluster` gets from them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

# RFC 5737 (IPv4) and RFC 3849 (IPv6) documentation ranges: they route nowhere, so an endpoint
# opened to them is open to no one (or, once someone is allocated one, to a stranger).
DOCUMENTATION_RANGES = tuple(
    ipaddress.ip_network(cidr) for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
# RFC 1918: the ranges a VPC, a peered VPC or a VPN reaches the private endpoint from.
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SecurityGroup.html
SECURITY_GROUP_ID = re.compile(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?")


def public_cidr_problem(cidr: str) -> str | None:
    """Why `cidr` may not reach a public API endpoint, or None when it may: it must be a CIDR
    block, neither the whole internet nor a documentation range."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return f"{cidr!r} is not a CIDR block such as 198.18.7.0/24 (no host bits set)"
    if network.prefixlen == 0:
        return f"{cidr!r} is the whole internet: name the networks your operators and runners use"
    for documentation in DOCUMENTATION_RANGES:
        if network.version == documentation.version and network.subnet_of(documentation):  # type: ignore[arg-type]
            return f"{cidr!r} is a documentation range ({documentation}), reachable by no one: put your egress range here"
    return None


def private_cidr_problem(cidr: str) -> str | None:
    """Why `cidr` may not reach the private endpoint (port 443 of the cluster security group), or
    None when it may: an IPv4 block inside RFC 1918 (the VPC, a peered VPC, a VPN's client range)."""
    try:
        network = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return f"{cidr!r} is not an IPv4 CIDR block such as 10.30.0.0/16 (no host bits set)"
    if not any(network.subnet_of(block) for block in PRIVATE_RANGES):
        return f"{cidr!r} is not inside an RFC 1918 range (10/8, 172.16/12, 192.168/16): the private endpoint is reached from inside"
    return None


def security_group_problem(group_id: str) -> str | None:
    """Why `group_id` is not a security group id ("sg-" and 8 or 17 hex digits), or None."""
    if not SECURITY_GROUP_ID.fullmatch(group_id):
        return f"{group_id!r} is not a security group id such as sg-0123456789abcdef0"
    return None


def admin_principals(deployer_arn: str, admin_role_arns: Sequence[str]) -> list[tuple[str, str]]:
    """(role, principal ARN) of every cluster admin: the deployer first ("deployer"), unless the
    stack lists it among `admin_role_arns` already ("admin"), then those. One entry per principal:
    EKS answers a second entry for the same principal with 409 ResourceInUseException."""
    principals = [] if deployer_arn in admin_role_arns else [("deployer", deployer_arn)]
    return principals + [("admin", arn) for arn in admin_role_arns]


def create_admin_access(
    name: str,
    *,
    cluster: aws.eks.Cluster,
    admin_role_arns: Sequence[str],
    principal_pattern: re.Pattern[str],
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """A cluster-admin access entry (+ AmazonEKSClusterAdminPolicy, cluster scope) for the identity
    running `pulumi up` and for each of `admin_role_arns`.

    The caller is read with GetCallerIdentity; for an assumed role (CI runners, SSO users) that is
    an STS session ARN, which access entries refuse, so `iam.get_session_context` turns it into the
    role's IAM ARN, with its path (read by iam:GetRole), which access entries accept.
    https://www.pulumi.com/registry/packages/aws/api-docs/iam/getsessioncontext/
    https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html
    Plain (blocking) invokes rather than Outputs: which entries exist is decided while the
    program runs, so the deployer listed in `admin_role_arns` gets one entry, not two.
    The deployer's entry follows whoever runs `pulumi up`: list every person or runner that must
    keep access in `adminRoleArns`. Returns the policy associations (each after its entry): what
    the Kubernetes provider must wait for.
    """
    invoke = pulumi.InvokeOptions(parent=parent)
    caller = aws.get_caller_identity(opts=invoke)
    deployer = aws.iam.get_session_context(arn=caller.arn, opts=invoke).issuer_arn
    admin_policy = pulumi.Output.concat(
        "arn:", cluster.arn.apply(lambda arn: arn.split(":")[1]), ":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    associations: list[pulumi.Resource] = []
    for role, arn in admin_principals(deployer, admin_role_arns):
        if role == "deployer":
            resource_name = f"{name}-deployer"
        else:
            account, principal = principal_pattern.fullmatch(arn).groups()  # type: ignore[union-attr]
            resource_name = f"{name}-admin-{account}-{principal}"
        # One entry per principal and cluster: a replacement must delete the old one first.
        entry = aws.eks.AccessEntry(
            resource_name, cluster_name=cluster.name, principal_arn=arn, type="STANDARD",
            opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
        )
        associations.append(aws.eks.AccessPolicyAssociation(
            f"{resource_name}-cluster-admin",
            cluster_name=cluster.name,
            principal_arn=arn,
            policy_arn=admin_policy,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[entry], delete_before_replace=True),
        ))
    return associations


def allow_private_access(
    name: str,
    *,
    cluster: aws.eks.Cluster,
    cidrs: Sequence[str],
    security_group_ids: Sequence[str],
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """HTTPS into the cluster security group from each CIDR and security group: the path a deploy
    runner or VPN takes to a private API endpoint. EKS admits only the cluster security group
    itself by default. https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html#private-access
    """
    security_group_id = cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id)
    rules: list[pulumi.Resource] = []
    for cidr in cidrs:
        rules.append(aws.vpc.SecurityGroupIngressRule(
            f"{name}-api-from-{re.sub(r'[^0-9]+', '-', cidr)}",
            security_group_id=security_group_id,
            description=f"Kubernetes API (private endpoint) from {cidr}",
            ip_protocol="tcp", from_port=443, to_port=443, cidr_ipv4=cidr,
            opts=pulumi.ResourceOptions(parent=parent),
        ))
    for group_id in security_group_ids:
        rules.append(aws.vpc.SecurityGroupIngressRule(
            f"{name}-api-from-{group_id}",
            security_group_id=security_group_id,
            description=f"Kubernetes API (private endpoint) from {group_id}",
            ip_protocol="tcp", from_port=443, to_port=443, referenced_security_group_id=group_id,
            opts=pulumi.ResourceOptions(parent=parent),
        ))
    return rules
