"""Settings -> `ClusterArgs` and `ClusterAddonsArgs`: the EKS control plane, its node pools and add-ons."""

from __future__ import annotations

from components.cluster import (
    DEFAULT_ADDON_VERSIONS,
    Cluster,
    ClusterArgs,
    NodePoolArgs,
    Taint,
)
from components.cluster_addons import ClusterAddonsArgs
from mlserve.stack.args.naming import cluster_name
from mlserve.stack.settings import Settings
from mlserve.stack.settings.cluster import GPU_TAINT_KEY

# Settings use the Kubernetes spelling of taint effects and lower-case capacity types (what
# users write in manifests); the EKS API wants its own enum spelling.
_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
_CAPACITY_TYPES = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


def addon_versions(settings: Settings) -> dict[str, str]:
    """The pinned EKS add-on versions for the cluster's Kubernetes version, with the
    stack's `cluster.addonVersions` overriding single entries."""
    return {**DEFAULT_ADDON_VERSIONS[settings.cluster.kubernetes_version], **settings.cluster.addon_versions}


def node_pool_args(settings: Settings) -> tuple[NodePoolArgs, ...]:
    return tuple(
        NodePoolArgs(
            name=pool.name,
            instance_types=tuple(pool.instance_types),
            capacity_type=_CAPACITY_TYPES[pool.capacity_type],
            min_size=pool.min_size,
            desired_size=pool.desired_size,
            max_size=pool.max_size,
            disk_size_gib=pool.disk_gib,
            gpu=pool.gpu,
            labels=dict(pool.labels),
            taints=tuple(Taint(key=t.key, value=t.value, effect=_TAINT_EFFECTS[t.effect]) for t in pool.taints),
        )
        for pool in settings.node_pools
    )


def cluster_args(settings: Settings, stack: str, *, vpc_id, private_subnet_ids) -> ClusterArgs:
    cluster = settings.cluster
    return ClusterArgs(
        cluster_name=cluster_name(stack),
        kubernetes_version=cluster.kubernetes_version,
        vpc_id=vpc_id,
        private_subnet_ids=private_subnet_ids,
        endpoint_public_access=cluster.endpoint_public_access,
        public_access_cidrs=tuple(cluster.public_access_cidrs),
        private_access_cidrs=tuple(cluster.private_access_cidrs),
        private_access_security_group_ids=tuple(cluster.private_access_security_group_ids),
        upgrade_support_type=cluster.upgrade_policy,
        log_types=tuple(cluster.log_types),
        log_retention_days=cluster.log_retention_days,
        deletion_protection=cluster.deletion_protection,
        admin_role_arns=tuple(cluster.admin_role_arns),
        node_pools=node_pool_args(settings),
        addon_versions=addon_versions(settings),
        tags=settings.tags.as_dict(),
    )


def cluster_addons_args(settings: Settings, cluster: Cluster) -> ClusterAddonsArgs:
    """The add-ons follow the cluster's outputs; GPU selection uses the labels and taint
    every GPU pool carries (see components/node_pools.py)."""
    return ClusterAddonsArgs(
        cluster_name=cluster.cluster_name,
        region=settings.region,
        kubernetes_version=settings.cluster.kubernetes_version,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_issuer=cluster.oidc_issuer,
        gpu_taint_key=GPU_TAINT_KEY,
    )
