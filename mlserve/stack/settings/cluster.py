"""The EKS sections of the settings: the control plane (`mlserve:cluster`) and the node pools
(`mlserve:nodePools`)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from components.amis import AMI_RELEASE_VERSIONS, ami_type_for
from components.autoscaler import AUTOSCALER_IMAGE_TAGS
from components.cluster_access import (
    private_cidr_problem,
    public_cidr_problem,
    security_group_problem,
)
from components.eks_monitoring import ADDON_VERSIONS as MONITORING_ADDON_VERSIONS
from components.instance_types import ec2_instance_types, unknown_type_problem
from components.managed_addons import DEFAULT_ADDON_VERSIONS, REQUIRED_ADDONS
from components.node_pools import RESERVED_LABELS, gpu_model
from mlserve.stack.settings.base import RetentionDays, _Model, allows

# The Kubernetes minors the stack can build: those with pinned EKS add-on versions, a pinned
# cluster-autoscaler image, pinned node AMI releases and a pinned CloudWatch Observability add-on
# (the tables live with the components that use them). The newest is the default.
KUBERNETES_VERSIONS = tuple(
    sorted(set(DEFAULT_ADDON_VERSIONS) & set(AUTOSCALER_IMAGE_TAGS) & set(AMI_RELEASE_VERSIONS)
           & set(MONITORING_ADDON_VERSIONS),
           key=lambda v: tuple(int(part) for part in v.split(".")))
)
DEFAULT_KUBERNETES_VERSION = KUBERNETES_VERSIONS[-1]
REGISTRY_SCANNING_FILTER = "mlserve-*"
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
GPU_TAINT_KEY = "nvidia.com/gpu"

class Taint(_Model):
    """A Kubernetes node taint: only pods that tolerate it are scheduled on the pool's nodes."""

    key: str = Field(min_length=1)
    """The taint's key, e.g. `nvidia.com/gpu`."""
    value: str = ""
    """The taint's value, e.g. `'true'`."""
    effect: Literal["NoSchedule", "NoExecute", "PreferNoSchedule"]
    """What happens to pods that do not tolerate it."""


class NodePool(_Model):
    """One managed node group. GPU pools must carry the `nvidia.com/gpu` NoSchedule taint."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    """The pool's name, unique among the pools; `serving.*.nodePool` refers to it."""
    instance_types: list[str] = Field(min_length=1)
    """EC2 instance types, one AMI type per pool, and in a GPU pool one GPU model (cluster-autoscaler's
    `k8s.amazonaws.com/accelerator` label names it: split g5 and g6 into two pools)."""
    capacity_type: Literal["on-demand", "spot"] = "on-demand"
    """`spot` is cheaper and can be reclaimed; policy `no-spot-gpu-pools` refuses spot GPU pools in prod."""
    min_size: int = Field(ge=0, le=1000)
    """Fewest nodes (the cluster autoscaler's lower bound)."""
    desired_size: int = Field(ge=0, le=1000)
    """Nodes at creation; the cluster autoscaler owns the count afterwards."""
    max_size: int = Field(ge=1, le=1000)
    """Most nodes (the autoscaler's upper bound; the cost estimate's maximum)."""
    disk_gib: int = Field(default=50, ge=20, le=16384)
    """Size of each node's encrypted gp3 root volume, GiB."""
    gpu: bool = False
    """A GPU pool: needs GPU instance types and the `nvidia.com/gpu` `NoSchedule` taint."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Node labels. The stack sets `mlserve.io/node-pool` on every node and `nvidia.com/gpu.present=true`,
    `mlserve.io/accelerator=nvidia`, `k8s.amazonaws.com/accelerator=<GPU model>` on GPU nodes."""
    taints: list[Taint] = Field(default_factory=list)
    """Node taints, a key/effect pair at most once."""

    @field_validator("labels")
    @classmethod
    @allows("not the keys the stack sets: " + ", ".join(f"`{label}`" for label in RESERVED_LABELS))
    def _own_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        reserved = sorted(set(labels) & set(RESERVED_LABELS))
        if reserved:
            raise ValueError(f"{reserved} are set by the stack itself; remove them")
        return labels

    @field_validator("instance_types")
    @classmethod
    def _known_families(cls, instance_types: list[str]) -> list[str]:
        """real EC2 instance types (botocore's list; a typo gets a "did you mean") of a family the stack knows
        (`components/amis.py`)"""
        # Real EC2 types first (botocore's list, with a "did you mean"), then a family we know the AMI of.
        problems = [p for t in instance_types if (p := unknown_type_problem(t, ec2_instance_types(), "an EC2 instance type"))]
        if problems:
            raise ValueError("; ".join(problems))
        ami_type_for(instance_types)  # raises ValueError naming the family
        return instance_types

    @model_validator(mode="after")
    def _consistent(self) -> NodePool:
        """`minSize <= desiredSize <= maxSize`; `gpu` matches the instance types; a GPU pool has one GPU
        model and the taint `{key: nvidia.com/gpu, value: 'true', effect: NoSchedule}`; no key/effect
        pair of `taints` twice."""
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"need minSize <= desiredSize <= maxSize, got {self.min_size} <= {self.desired_size} <= {self.max_size}"
            )
        ami_type = ami_type_for(self.instance_types)
        if self.gpu and not ami_type.is_gpu:
            raise ValueError(f"gpu: true but {self.instance_types} are not GPU instance types (g4dn, g5, g6, p4d, p5, ...)")
        if not self.gpu and ami_type.is_gpu:
            raise ValueError(f"{self.instance_types} are GPU instance types: set gpu: true (and the {GPU_TAINT_KEY} taint)")
        pairs = [(t.key, t.effect) for t in self.taints]
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"taints repeat a key/effect pair: {pairs}")
        if self.gpu:
            gpu_model(self.instance_types)  # one GPU model per pool; raises ValueError naming the types
        if self.gpu and not any(t.key == GPU_TAINT_KEY and t.effect == "NoSchedule" for t in self.taints):
            raise ValueError(
                f"a GPU pool needs the taint {{key: {GPU_TAINT_KEY}, value: 'true', effect: NoSchedule}} "
                "so only pods that ask for GPUs land on its costly nodes"
            )
        return self


class ClusterSettings(_Model):
    """The EKS control plane."""

    kubernetes_version: Literal[KUBERNETES_VERSIONS] = DEFAULT_KUBERNETES_VERSION  # type: ignore[valid-type]
    """The cluster's Kubernetes minor: the versions with pinned add-ons, node AMI releases, autoscaler
    image and schemas here (the EKS versions in standard support on 2026-11-24; 1.34 leaves standard
    support on 2026-12-02 and is refused). The default is the newest."""
    upgrade_policy: Literal["STANDARD", "EXTENDED"] = "EXTENDED"
    """What EKS does when the version leaves standard support: `EXTENDED` keeps it (at the
    extended-support price) until the stack file bumps it; `STANDARD` upgrades it (then bump the stack
    file too, or the next `up` plans a downgrade EKS refuses)."""
    endpoint_public_access: bool = False
    """A public API endpoint besides the private one (always on); `true` needs `publicAccessCidrs`."""
    public_access_cidrs: list[str] = Field(default_factory=list)
    """Networks allowed to reach a public endpoint; only with `endpointPublicAccess: true`. Set per
    operator with `pulumi config set` (docs/deploying.md), not in the committed stack file."""
    private_access_cidrs: list[str] = Field(default_factory=list)
    """Networks allowed to reach the private endpoint (port 443 of the cluster security group): the
    deploy runner's subnet, the VPC, a VPN. A private-only endpoint needs this or
    `privateAccessSecurityGroupIds`."""
    private_access_security_group_ids: list[str] = Field(default_factory=list)
    """Security groups (the deploy runner's) allowed to reach the private endpoint on 443."""
    log_types: list[Literal[CONTROL_PLANE_LOG_TYPES]] = Field(default_factory=lambda: list(CONTROL_PLANE_LOG_TYPES))  # type: ignore[valid-type]
    """Control-plane log types sent to CloudWatch Logs."""
    log_retention_days: RetentionDays = 30
    """Retention of the control-plane log group `/aws/eks/<cluster>/cluster`."""
    deletion_protection: bool = False
    """EKS deletion protection, plus Pulumi `protect` on the cluster, the VPC, the repository, the KMS
    keys, the log groups and the model store (buckets, trail): `pulumi destroy` stops before them (prod).
    Cannot be combined with `registry.forceDelete` or `modelStore.forceDestroy`."""
    admin_role_arns: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")]] = Field(default_factory=list)
    """IAM roles given cluster-admin through EKS access entries, each at most once (`ClusterArgs` refuses a
    repeat before anything is declared). The identity running `pulumi up` gets its own entry unless
    listed here; list every person or runner that must keep access."""
    addon_versions: dict[str, str] = Field(default_factory=dict)
    """Overrides of single pinned EKS add-on versions (the tables are in
    `components/managed_addons.py`), e.g. `{vpc-cni: v1.20.4-eksbuild.1}`."""

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        """CIDR blocks, each at most once; never the whole internet (`0.0.0.0/0`, `::/0`) nor a
        documentation range (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)"""
        return _each(cidrs, public_cidr_problem)

    @field_validator("private_access_cidrs")
    @classmethod
    def _private_cidrs(cls, cidrs: list[str]) -> list[str]:
        """IPv4 blocks inside RFC 1918 (10/8, 172.16/12, 192.168/16), each at most once"""
        return _each(cidrs, private_cidr_problem)

    @field_validator("private_access_security_group_ids")
    @classmethod
    def _security_groups(cls, group_ids: list[str]) -> list[str]:
        """security group ids such as `sg-0123456789abcdef0`, each at most once"""
        return _each(group_ids, security_group_problem)

    @field_validator("addon_versions")
    @classmethod
    @allows("keys among " + ", ".join(f"`{name}`" for name in REQUIRED_ADDONS)
            + "; versions such as `v1.20.4-eksbuild.1`")
    def _addons(cls, versions: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(versions) - set(REQUIRED_ADDONS))
        if unknown:
            raise ValueError(f"unknown add-ons {unknown}; pinned add-ons: {list(REQUIRED_ADDONS)}")
        malformed = {name: v for name, v in versions.items() if not re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", v)}
        if malformed:
            raise ValueError(f"{malformed}: EKS add-on versions look like 'v1.20.4-eksbuild.1'")
        return versions

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterSettings:
        """`endpointPublicAccess: true` needs `publicAccessCidrs`, and `publicAccessCidrs` needs it."""
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise ValueError("endpointPublicAccess: true needs publicAccessCidrs (the networks allowed to reach the API)")
        if not self.endpoint_public_access and self.public_access_cidrs:
            raise ValueError("publicAccessCidrs is set but endpointPublicAccess is false: remove one of them")
        return self


def _each(values: list[str], problem_of) -> list[str]:
    problems = [problem for value in values if (problem := problem_of(value))]
    if problems:
        raise ValueError("; ".join(problems))
    if len(set(values)) != len(values):
        raise ValueError("each value at most once")
    return values
