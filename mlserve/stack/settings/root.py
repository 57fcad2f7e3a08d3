"""The whole of one stack's settings (`Settings`) and the rules that span its sections."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from mlserve.stack.settings.alarms import AlarmSettings
from mlserve.stack.settings.base import NAMESPACE, _Model
from mlserve.stack.settings.cluster import ClusterSettings, NodePool
from mlserve.stack.settings.cost import CostSettings
from mlserve.stack.settings.delivery import MonitoringSettings
from mlserve.stack.settings.model_store import ModelStoreSettings, model_store_problems
from mlserve.stack.settings.models import Models, Rollout, model_problems
from mlserve.stack.settings.network import NetworkSettings
from mlserve.stack.settings.regions import check_region
from mlserve.stack.settings.registry import RegistrySettings
from mlserve.stack.settings.sagemaker import SageMakerSettings, sagemaker_problems
from mlserve.stack.settings.serving import (
    MeshSettings,
    ServingSettings,
    serving_problems,
)


class Tags(_Model):
    """Cost-allocation tags applied to every taggable AWS resource (provider default_tags)."""

    environment: str = Field(min_length=1)
    """The environment (`dev`, `prod`); `prod` also forbids a serverless SageMaker variant."""
    owner: str = Field(min_length=1)
    """The team or person who answers for the stack."""
    cost_center: str = Field(alias="cost-center", min_length=1)
    """The cost center the bill goes to."""

    def as_dict(self) -> dict[str, str]:
        return {"environment": self.environment, "owner": self.owner, "cost-center": self.cost_center}


class Settings(_Model):
    """Everything one stack can set, under the `mlserve:` namespace."""

    region: Annotated[str, AfterValidator(check_region)]
    """An AWS region botocore's endpoint data lists (`regions.py`), e.g. us-west-2."""
    tags: Tags
    """Applied to every taggable AWS resource (provider `default_tags`), and to instances and volumes
    through the launch templates."""
    targets: list[Literal["eks", "sagemaker"]] = Field(default_factory=lambda: ["eks"], min_length=1)
    """The serving targets that are on. Without `eks` no cluster is created; with `sagemaker` the
    endpoint `mlserve-<stack>` (docs/sagemaker.md), which needs `models.stable`."""
    network: NetworkSettings
    """The VPC (`network.py`)."""
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    """The EKS control plane (`cluster.py`)."""
    node_pools: list[NodePool] = Field(min_length=1)
    """One managed node group each. With `eks` on, one CPU pool must have no taints and `minSize >= 1`
    (CoreDNS and the other system pods run there); names are unique."""
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    """The ECR repository of the serving image (`registry.py`)."""
    models: Models | None = None
    """The versions that serve (`models.py`); none: nothing is served and no model store is created."""
    rollout: Rollout = Field(default_factory=Rollout)
    """How traffic splits between `models.stable` and `models.canary`, on both targets (`models.py`)."""
    model_store: ModelStoreSettings = Field(default_factory=ModelStoreSettings)
    """The model store bucket (`model_store.py`); created whenever `models` is set."""
    sagemaker: SageMakerSettings = Field(default_factory=SageMakerSettings)
    """The SageMaker endpoint (`sagemaker.py`); used when `targets` has `sagemaker`."""
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    """Alarm thresholds, the topic's subscribers, paging on or off (`alarms.py`)."""
    serving: ServingSettings = Field(default_factory=ServingSettings)
    """The model server on EKS (`serving.py`): image, pools, replicas, limits per track."""
    mesh: MeshSettings = Field(default_factory=MeshSettings)
    """The Istio ingress: load balancer scheme, TLS, optional JWT."""
    cost: CostSettings = Field(default_factory=CostSettings)
    """Usage assumptions of the cost estimate (`mlserve/stack/settings/cost.py`); exported as `cost_assumptions`."""
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    """The in-cluster Prometheus and Grafana (EKS): retention, volume size, replicas."""


def cross_field_problems(settings: Settings) -> list[str]:
    """Rules that span sections; checked once every section is valid on its own."""
    problems = []
    wrong_region = [zone for zone in settings.network.availability_zones if not zone.startswith(settings.region)]
    if wrong_region:
        problems.append(
            f"{NAMESPACE}:network.availabilityZones = {json.dumps(wrong_region)}: not in region {settings.region}"
        )
    names = [pool.name for pool in settings.node_pools]
    if len(set(names)) != len(names):
        problems.append(f"{NAMESPACE}:nodePools = names {json.dumps(names)}: pool names must be unique")
    if "eks" in settings.targets and not any(
        not pool.gpu and not pool.taints and pool.min_size >= 1 for pool in settings.node_pools
    ):
        problems.append(
            f"{NAMESPACE}:nodePools: need one CPU pool without taints and minSize >= 1 "
            "(CoreDNS and the other system pods run there)"
        )
    cluster = settings.cluster
    if "eks" in settings.targets and not (
        cluster.endpoint_public_access or cluster.private_access_cidrs or cluster.private_access_security_group_ids
    ):
        problems.append(
            f"{NAMESPACE}:cluster: a private-only API endpoint needs privateAccessCidrs or privateAccessSecurityGroupIds, "
            "the deploy runner's way in (pulumi up talks to the API; docs/deploying.md)"
        )
    if settings.registry.force_delete and settings.cluster.deletion_protection:
        problems.append(
            f"{NAMESPACE}:registry.forceDelete = true: contradicts cluster.deletionProtection = true "
            "(a protected stack keeps its images); set one of them to false"
        )
    problems.extend(model_problems(settings.models, settings.rollout))
    if settings.rollout.mode == "automatic" and "eks" not in settings.targets:
        problems.append(f"{NAMESPACE}:rollout.mode = 'automatic': drives Flagger on EKS, and targets has no eks "
                        "(SageMaker's guardrails roll out each new version in either mode); use manual")
    problems.extend(model_store_problems(settings.model_store, deletion_protection=settings.cluster.deletion_protection))
    problems.extend(sagemaker_problems(settings.sagemaker, targets=settings.targets, models=settings.models,
                                       environment=settings.tags.environment))
    problems.extend(serving_problems(settings.serving, node_pools=settings.node_pools, targets=settings.targets,
                                     has_canary=settings.models is not None and settings.models.canary is not None,
                                     automatic=settings.rollout.mode == "automatic"))
    return problems

