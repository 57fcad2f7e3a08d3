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
from mlserve.stack.settings.base import RetentionDays, _Model

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
    key: str = Field(min_length=1)
    value: str = ""
    effect: Literal["NoSchedule", "NoExecute", "PreferNoSchedule"]


class NodePool(_Model):
    """One managed node group. GPU pools must carry the `nvidia.com/gpu` NoSchedule taint."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    instance_types: list[str] = Field(min_length=1)
    capacity_type: Literal["on-demand", "spot"] = "on-demand"
    min_size: int = Field(ge=0, le=1000)
    desired_size: int = Field(ge=0, le=1000)
    max_size: int = Field(ge=1, le=1000)
    disk_gib: int = Field(default=50, ge=20, le=16384)
    gpu: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        reserved = sorted(set(labels) & set(RESERVED_LABELS))
        if reserved:
            raise ValueError(f"{reserved} are set by the stack itself; remove them")
        return labels

    @field_validator("instance_types")
    @classmethod
    def _known_families(cls, instance_types: list[str]) -> list[str]:
        # Real EC2 types first (botocore's list, with a "did you mean"), then a family we know the AMI of.
        problems = [p for t in instance_types if (p := unknown_type_problem(t, ec2_instance_types(), "an EC2 instance type"))]
        if problems:
            raise ValueError("; ".join(problems))
        ami_type_for(instance_types)  # raises ValueError naming the family
        return instance_types

    @model_validator(mode="after")
    def _consistent(self) -> NodePool:
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
    upgrade_policy: Literal["STANDARD", "EXTENDED"] = "EXTENDED"
    endpoint_public_access: bool = False
    public_access_cidrs: list[str] = Field(default_factory=list)
    private_access_cidrs: list[str] = Field(default_factory=list)
    private_access_security_group_ids: list[str] = Field(default_factory=list)
    log_types: list[Literal[CONTROL_PLANE_LOG_TYPES]] = Field(default_factory=lambda: list(CONTROL_PLANE_LOG_TYPES))  # type: ignore[valid-type]
    log_retention_days: RetentionDays = 30
    deletion_protection: bool = False
    admin_role_arns: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")]] = Field(default_factory=list)
    addon_versions: dict[str, str] = Field(default_factory=dict)

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        return _each(cidrs, public_cidr_problem)

    @field_validator("private_access_cidrs")
    @classmethod
    def _private_cidrs(cls, cidrs: list[str]) -> list[str]:
        return _each(cidrs, private_cidr_problem)

    @field_validator("private_access_security_group_ids")
    @classmethod
    def _security_groups(cls, group_ids: list[str]) -> list[str]:
        return _each(group_ids, security_group_problem)

    @field_validator("addon_versions")
    @classmethod
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
