"""`ClusterArgs`: what differs between the clusters of two stacks, checked before anything is
declared (each rule names the field). The `Cluster` component is in `components/cluster.py`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import pulumi

from components.cloudwatch import LOG_RETENTION_DAYS
from components.cluster_access import private_cidr_problem, public_cidr_problem, security_group_problem
from components.amis import ami_release_version
from components.managed_addons import addon_version_problem
from components.node_pools import NodePoolArgs

# https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The only values CloudWatch Logs accepts for a retention.
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html

_CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")
PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(?:role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)")
# https://docs.aws.amazon.com/eks/latest/APIReference/API_UpgradePolicyRequest.html
UPGRADE_SUPPORT_TYPES = ("STANDARD", "EXTENDED")


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """What differs between the clusters of two stacks."""

    cluster_name: str
    """EKS cluster name, e.g. "mlserve-dev"; also names the log group and the KMS alias."""

    kubernetes_version: str
    """Kubernetes minor version, e.g. "1.36". The node groups follow it."""

    vpc_id: pulumi.Input[str]
    """The VPC of `private_subnet_ids`. EKS derives it from the subnets; kept as the `vpc_id`
    output for add-ons that need it (load balancer controller)."""

    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets in at least two availability zones, for the control plane's network
    interfaces and the nodes. No public subnets: nodes get no public address."""

    endpoint_public_access: bool
    """Whether the API server is reachable from the internet (only from `public_access_cidrs`).
    The private endpoint is always on, so nodes never leave the VPC to reach it."""

    public_access_cidrs: tuple[str, ...] = ()
    """Default none. The CIDR blocks allowed to reach the public endpoint: required when
    `endpoint_public_access`, forbidden otherwise; never 0.0.0.0/0, ::/0 or a documentation range."""

    private_access_cidrs: tuple[str, ...] = ()
    """Default none. RFC 1918 blocks (a runner subnet, the VPC, a VPN's clients) allowed to reach
    the private endpoint: port 443 of the cluster security group. With a private-only endpoint,
    this or `private_access_security_group_ids` is the only way `pulumi up` reaches the API."""

    private_access_security_group_ids: tuple[str, ...] = ()
    """Default none. Security groups (of a deploy runner in the VPC) allowed to reach the private
    endpoint on port 443."""

    upgrade_support_type: str = "EXTENDED"
    """Default "EXTENDED". What EKS does when the version leaves standard support: "EXTENDED"
    keeps it (paid extended support) until the stack upgrades it; "STANDARD" upgrades the control
    plane itself, after which the stack must be bumped to match or it plans a downgrade."""

    log_types: tuple[str, ...] = CONTROL_PLANE_LOG_TYPES
    """Default all five. Control-plane log types sent to CloudWatch Logs."""

    log_retention_days: int = 30
    """Default 30. Retention of the control-plane log group; one of `LOG_RETENTION_DAYS`."""

    deletion_protection: bool = False
    """Default False. True makes EKS refuse to delete the cluster (prod), and sets Pulumi's
    `protect` on the cluster and its secrets key so `pulumi destroy` stops before deleting anything
    it holds data in."""

    admin_role_arns: tuple[str, ...] = ()
    """Default none. IAM roles or users given cluster-admin through access entries. The identity
    running `pulumi up` gets one too (deduplicated against this list)."""

    node_pools: tuple[NodePoolArgs, ...]
    """The managed node groups; unique names, and at least one untainted CPU pool with
    min_size >= 1 where CoreDNS and other system pods run."""

    addon_versions: Mapping[str, str]
    """Add-on name -> pinned version (e.g. "v1.20.4-eksbuild.1") for exactly the add-ons in
    `REQUIRED_ADDONS`; `DEFAULT_ADDON_VERSIONS` holds tested sets."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Default none. The common tags, copied onto instances and volumes through the launch
    templates (the provider's default_tags do not reach those)."""

    def __post_init__(self) -> None:
        for name in ("addon_versions", "tags"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        for name in ("public_access_cidrs", "private_access_cidrs", "private_access_security_group_ids",
                     "log_types", "admin_role_arns", "node_pools"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

        if not _CLUSTER_NAME.fullmatch(self.cluster_name):
            raise ValueError(f"cluster_name {self.cluster_name!r}: 1-100 letters, digits, '-' or '_', starting with a letter or digit")
        if not re.fullmatch(r"1\.\d+", self.kubernetes_version):
            raise ValueError(f"kubernetes_version {self.kubernetes_version!r} is not a minor version such as '1.36'")
        if self.upgrade_support_type not in UPGRADE_SUPPORT_TYPES:
            raise ValueError(f"upgrade_support_type {self.upgrade_support_type!r} is not one of {', '.join(UPGRADE_SUPPORT_TYPES)}")
        # A list of subnets is checked here; an Output of one is checked by EKS at deploy time.
        if isinstance(self.private_subnet_ids, (list, tuple)) and len(self.private_subnet_ids) < 2:
            raise ValueError("private_subnet_ids: EKS needs subnets in at least two availability zones")
        self._check_endpoint()
        unknown_logs = [t for t in self.log_types if t not in CONTROL_PLANE_LOG_TYPES]
        if unknown_logs or len(set(self.log_types)) != len(self.log_types):
            raise ValueError(f"log_types {list(self.log_types)}: each at most once, from {', '.join(CONTROL_PLANE_LOG_TYPES)}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days {self.log_retention_days} is not a CloudWatch retention: {LOG_RETENTION_DAYS}")
        bad_arns = [arn for arn in self.admin_role_arns if not PRINCIPAL_ARN.fullmatch(arn)]
        if bad_arns or len(set(self.admin_role_arns)) != len(self.admin_role_arns):
            raise ValueError(f"admin_role_arns: each an IAM role or user ARN, at most once; bad: {bad_arns or list(self.admin_role_arns)}")
        self._check_node_pools()
        self._check_node_releases()
        self._check_addon_versions()

    def _check_endpoint(self) -> None:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise ValueError("public_access_cidrs: a public endpoint needs the CIDR blocks allowed to reach it (EKS would default to 0.0.0.0/0)")
        if not self.endpoint_public_access and self.public_access_cidrs:
            raise ValueError("public_access_cidrs is set but endpoint_public_access is False: remove one of them")
        for field_name, values, check in (
            ("public_access_cidrs", self.public_access_cidrs, public_cidr_problem),
            ("private_access_cidrs", self.private_access_cidrs, private_cidr_problem),
            ("private_access_security_group_ids", self.private_access_security_group_ids, security_group_problem),
        ):
            problems = [problem for value in values if (problem := check(value))]
            if problems:
                raise ValueError(f"{field_name}: {'; '.join(problems)}")
            if len(set(values)) != len(values):
                raise ValueError(f"{field_name}: each value at most once, got {list(values)}")

    def _check_node_pools(self) -> None:
        names = [pool.name for pool in self.node_pools]
        if not names:
            raise ValueError("node_pools: at least one pool is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"node_pools: pool names must be unique, got {names}")
        if not any(not pool.gpu and not pool.taints and pool.min_size >= 1 for pool in self.node_pools):
            raise ValueError(
                "node_pools: need one CPU pool without taints and min_size >= 1; CoreDNS and the other "
                "system pods run there, and the coredns add-on never turns healthy without it"
            )

    def _check_node_releases(self) -> None:
        for ami_type in sorted({pool.ami_type for pool in self.node_pools}, key=lambda t: t.value):
            try:
                ami_release_version(self.kubernetes_version, ami_type)
            except ValueError as error:
                raise ValueError(f"kubernetes_version: {error}") from None

    def _check_addon_versions(self) -> None:
        problem = addon_version_problem(self.addon_versions)
        if problem:
            raise ValueError(f"addon_versions: {problem}")
