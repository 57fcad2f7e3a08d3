"""The in-cluster add-ons a GPU serving cluster needs, each a pinned Helm release.

- NVIDIA device plugin: advertises `nvidia.com/gpu` on GPU nodes so pods can request GPUs.
  The EKS AL2023 NVIDIA AMIs ship the driver and container toolkit but not this plugin:
  https://docs.aws.amazon.com/eks/latest/userguide/ml-eks-k8s-device-plugin.html
- metrics-server: the resource metrics API behind `kubectl top` and every CPU/memory HPA.
- cluster-autoscaler: grows and shrinks the node groups (including GPU pools from zero),
  with its own IRSA role whose mutating rights are limited to this cluster's node groups.

The Kubernetes and AWS providers come in through `opts`; children inherit them.
Chart versions are pinned here (cluster-autoscaler's, with its values and IAM policy, in
`components/autoscaler.py`); the default values.yaml of each pinned chart is vendored
under tests/data/charts/ so a test proves every key we set exists in the chart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as kubernetes

from components.autoscaler import (
    AUTOSCALER_CHART,
    AUTOSCALER_CHART_VERSION,
    AUTOSCALER_REPOSITORY,
    AUTOSCALER_SERVICE_ACCOUNT,
    autoscaler_image_tag,
    autoscaler_permissions_policy,
    autoscaler_values,
)
from components.iam_roles import irsa_trust_policy

# --- Pinned charts (cluster-autoscaler's is in components/autoscaler.py) -----------------
# Pinned exactly (never a range) so a plan is reproducible and a chart upgrade is a reviewed diff.

# https://github.com/NVIDIA/k8s-device-plugin/tree/v0.18.2/deployments/helm/nvidia-device-plugin
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_CHART_VERSION = "0.18.2"
DEVICE_PLUGIN_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"

# https://github.com/kubernetes-sigs/metrics-server/tree/metrics-server-helm-chart-3.13.1/charts/metrics-server
# (app version 0.8.1).
METRICS_SERVER_CHART = "metrics-server"
METRICS_SERVER_CHART_VERSION = "3.13.1"
METRICS_SERVER_REPOSITORY = "https://kubernetes-sigs.github.io/metrics-server/"

# Namespaces the IRSA trust policy and the operators' kubectl commands rely on.
DEVICE_PLUGIN_NAMESPACE = "nvidia-device-plugin"  # the namespace NVIDIA's install guide uses
SYSTEM_NAMESPACE = "kube-system"


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    """What the add-ons need to know about the cluster they run in."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name. Names the ASG tags the autoscaler discovers and is allowed to scale."""

    region: str
    """AWS region of the cluster, e.g. "us-west-2" (the autoscaler's `awsRegion`)."""

    kubernetes_version: str
    """Kubernetes minor of the cluster, e.g. "1.36". Picks the cluster-autoscaler image; must be a
    key of AUTOSCALER_IMAGE_TAGS."""

    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider; the autoscaler's IRSA role trusts it."""

    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer without "https://", e.g. "oidc.eks.us-west-2.amazonaws.com/id/ABC".
    Prefixes the `:sub` and `:aud` condition keys of the trust policy."""

    gpu_node_selector: Mapping[str, str] = field(default_factory=lambda: {"nvidia.com/gpu.present": "true"})
    """Default {"nvidia.com/gpu.present": "true"}. Labels every GPU node carries (set by the GPU node
    pool); the device plugin runs only on nodes with all of them. Must not be empty."""

    gpu_taint_key: str = "nvidia.com/gpu"
    """Default "nvidia.com/gpu". Key of the NoSchedule taint on GPU nodes; the device plugin
    tolerates exactly this key (any value)."""

    def __post_init__(self) -> None:
        autoscaler_image_tag(self.kubernetes_version)  # raises for an unknown minor
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", self.region):
            raise ValueError(f"region {self.region!r} is not an AWS region such as 'us-west-2'")
        if not self.gpu_node_selector:
            # An empty selector would put the device plugin on every node, CPU nodes included.
            raise ValueError("gpu_node_selector must name at least one label that only GPU nodes carry")
        if not self.gpu_taint_key:
            raise ValueError("gpu_taint_key must not be empty (an empty key tolerates every taint)")
        if isinstance(self.oidc_issuer, str) and "://" in self.oidc_issuer:
            raise ValueError(f"oidc_issuer must not carry a scheme, got {self.oidc_issuer!r} (drop 'https://')")


# --- Pure decisions: Helm values --------------------------------------------------------


def device_plugin_values(*, gpu_node_selector: Mapping[str, str], gpu_taint_key: str) -> dict[str, Any]:
    """Helm values for the NVIDIA device plugin: on GPU nodes only, tolerating only the GPU taint."""
    return {
        "nodeSelector": dict(gpu_node_selector),
        # The chart's default affinity requires labels set by Node Feature Discovery (which we do
        # not run) or nvidia.com/gpu.present. Replace it with one term over our GPU labels so the
        # affinity and the nodeSelector say the same thing and neither depends on NFD. Helm replaces
        # lists, so the chart's three default terms are gone, not merged.
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": key, "operator": "In", "values": [value]}
                                for key, value in sorted(gpu_node_selector.items())
                            ]
                        }
                    ]
                }
            }
        },
        # Only the GPU taint, whatever its value. The chart's default also tolerates
        # CriticalAddonsOnly, which would let the plugin onto nodes reserved for system pods.
        "tolerations": [{"key": gpu_taint_key, "operator": "Exists", "effect": "NoSchedule"}],
        # Without the plugin a GPU node advertises no GPUs: it must never be evicted for a workload.
        # https://kubernetes.io/docs/tasks/administer-cluster/guaranteed-scheduling-critical-addon-pods/
        "priorityClassName": "system-node-critical",
    }


def metrics_server_values(*, release_name: str) -> dict[str, Any]:
    """Helm values for metrics-server: two replicas on different nodes behind a PDB.

    One replica means every node drain or rollout takes the metrics API (and with it every HPA)
    down. High availability is "replicas greater than 1" on at least 2 nodes:
    https://github.com/kubernetes-sigs/metrics-server#high-availability
    """
    return {
        "replicas": 2,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        # Soft spread across nodes: a one-node dev cluster still runs both replicas.
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": METRICS_SERVER_CHART,
                        "app.kubernetes.io/instance": release_name,
                    }
                },
            }
        ],
    }


# --- The component ---------------------------------------------------------------------------


class ClusterAddons(pulumi.ComponentResource):
    """NVIDIA device plugin, metrics-server and cluster-autoscaler (with its IRSA role), pinned."""

    autoscaler_role_arn: pulumi.Output[str]
    """ARN of the IAM role the cluster-autoscaler service account assumes."""

    autoscaler_service_account: str
    """"<namespace>/<name>" of the cluster-autoscaler service account the role trusts."""

    device_plugin_namespace: pulumi.Output[str]
    """Namespace the NVIDIA device plugin runs in."""

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:cluster:ClusterAddons", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # --- NVIDIA device plugin -------------------------------------------------------------
        namespace = kubernetes.core.v1.Namespace(
            f"{name}-nvidia-namespace",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(
                name=DEVICE_PLUGIN_NAMESPACE,
                # The plugin mounts the kubelet's device-plugin socket directory (hostPath), which
                # only the "privileged" Pod Security level admits; say so rather than rely on the
                # cluster default. https://kubernetes.io/docs/concepts/security/pod-security-standards/
                labels={
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "app.kubernetes.io/part-of": "mlserve",
                },
            ),
            opts=child,
        )
        _pinned_release(
            f"{name}-nvidia-device-plugin",
            (DEVICE_PLUGIN_CHART, DEVICE_PLUGIN_CHART_VERSION, DEVICE_PLUGIN_REPOSITORY),
            namespace=namespace.metadata.name,
            values=device_plugin_values(gpu_node_selector=args.gpu_node_selector, gpu_taint_key=args.gpu_taint_key),
            opts=child,
        )

        # --- metrics-server -------------------------------------------------------------------
        _pinned_release(
            f"{name}-metrics-server",
            (METRICS_SERVER_CHART, METRICS_SERVER_CHART_VERSION, METRICS_SERVER_REPOSITORY),
            namespace=SYSTEM_NAMESPACE,
            values=metrics_server_values(release_name=METRICS_SERVER_CHART),
            opts=child,
        )

        # --- cluster-autoscaler ---------------------------------------------------------------
        role = aws.iam.Role(
            f"{name}-autoscaler-role",
            description="cluster-autoscaler (IRSA): scales this cluster's node groups",
            # Only the autoscaler's service account, only for the STS audience.
            assume_role_policy=irsa_trust_policy(
                args.oidc_provider_arn,
                args.oidc_issuer,
                namespace=SYSTEM_NAMESPACE,
                service_account=AUTOSCALER_SERVICE_ACCOUNT,
            ),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-autoscaler-policy",
            role=role.id,
            # Partition and account read off the OIDC provider's ARN (arn:<partition>:iam::<account>:...).
            policy=pulumi.Output.all(args.cluster_name, args.region, args.oidc_provider_arn).apply(
                lambda values: json.dumps(autoscaler_permissions_policy(
                    cluster_name=values[0], region=values[1],
                    partition=values[2].split(":")[1], account_id=values[2].split(":")[4],
                ))
            ),
            opts=child,
        )
        _pinned_release(
            f"{name}-cluster-autoscaler",
            (AUTOSCALER_CHART, AUTOSCALER_CHART_VERSION, AUTOSCALER_REPOSITORY),
            namespace=SYSTEM_NAMESPACE,
            values=autoscaler_values(
                cluster_name=args.cluster_name,
                region=args.region,
                kubernetes_version=args.kubernetes_version,
                role_arn=role.arn,
            ),
            # The permissions must exist before the pod starts, or its first discovery round fails
            # with AccessDenied and it crash-loops until the policy lands.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[role_policy])),
        )

        self.autoscaler_role_arn = role.arn
        self.autoscaler_service_account = f"{SYSTEM_NAMESPACE}/{AUTOSCALER_SERVICE_ACCOUNT}"
        self.device_plugin_namespace = namespace.metadata.name
        self.register_outputs(
            {
                "autoscaler_role_arn": self.autoscaler_role_arn,
                "autoscaler_service_account": self.autoscaler_service_account,
                "device_plugin_namespace": self.device_plugin_namespace,
            }
        )


def _pinned_release(
    resource_name: str,
    pin: tuple[str, str, str],
    *,
    namespace: pulumi.Input[str],
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> kubernetes.helm.v3.Release:
    """One Helm release of a pinned (chart, version, repository), named after its chart so the
    objects it creates keep the names the chart's docs use."""
    chart, version, repository = pin
    return kubernetes.helm.v3.Release(
        resource_name,
        name=chart,
        chart=chart,
        version=version,
        repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=repository),
        namespace=namespace,
        values=values,
        opts=opts,
    )
