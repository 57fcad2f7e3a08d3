"""The whole of one stack's settings (`Settings`) and the rules that span its sections."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from mlserve.stack.settings.alarms import AlarmSettings
from mlserve.stack.settings.base import NAMESPACE, _Model
from mlserve.stack.settings.cluster import ClusterSettings, NodePool
from mlserve.stack.settings.delivery import MonitoringSettings
from mlserve.stack.settings.model_store import ModelStoreSettings, model_store_problems
from mlserve.stack.settings.models import Models, Rollout, model_problems
from mlserve.stack.settings.network import NetworkSettings
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
    owner: str = Field(min_length=1)
    cost_center: str = Field(alias="cost-center", min_length=1)

    def as_dict(self) -> dict[str, str]:
        return {"environment": self.environment, "owner": self.owner, "cost-center": self.cost_center}


class Settings(_Model):
    """Everything one stack can set, under the `mlserve:` namespace."""

    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    tags: Tags
    targets: list[Literal["eks", "sagemaker"]] = Field(default_factory=lambda: ["eks"], min_length=1)
    network: NetworkSettings
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    node_pools: list[NodePool] = Field(min_length=1)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    models: Models | None = None
    """The serving versions (`mlserve/settings_models.py`); None until a target serves a model."""
    rollout: Rollout = Field(default_factory=Rollout)
    model_store: ModelStoreSettings = Field(default_factory=ModelStoreSettings)
    """The model store bucket (`mlserve/settings_model_store.py`); created whenever `models` is set."""
    sagemaker: SageMakerSettings = Field(default_factory=SageMakerSettings)
    """The SageMaker endpoint (`mlserve/settings_sagemaker.py`); used when `targets` has `sagemaker`."""
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    """Alarm thresholds, the topic's subscribers, paging on or off (`mlserve/settings_alarms.py`)."""
    serving: ServingSettings = Field(default_factory=ServingSettings)
    """The model server on EKS (`mlserve/settings_serving.py`): image, pools, replicas, limits per track."""
    mesh: MeshSettings = Field(default_factory=MeshSettings)
    """The Istio ingress: load balancer scheme, TLS, optional JWT."""
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
                                     has_canary=settings.models is not None and settings.models.canary is not None))
    return problems

