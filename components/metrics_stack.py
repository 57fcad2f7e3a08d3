"""Metrics in the cluster: Prometheus and Grafana (kube-prometheus-stack, pinned) on an encrypted gp3
volume, the PodMonitor that scrapes the serving pods (the server's metrics and Istio's, merged by the
sidecar), and the model-serving dashboard shipped as code (components/dashboards/) and loaded by
Grafana's sidecar. What the canary analysis (Flagger) and the autoscaler (KEDA) read.

Chart and values: `components/prometheus_values.py`; the PodMonitor body: `components/delivery_specs.py`.
The Kubernetes provider comes in through `opts`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as kubernetes

from components import delivery_specs as specs
from components import prometheus_values as stack
from components.serving_contract import APP_LABEL, TRACK_LABEL

DASHBOARDS = Path(__file__).parent / "dashboards"
STORAGE_CLASS = "gp3-encrypted"
EBS_CSI_PROVISIONER = "ebs.csi.aws.com"


@dataclass(frozen=True, kw_only=True)
class MetricsStackArgs:
    """How much Prometheus keeps, and which namespace's model servers it scrapes."""

    serving_namespace: str
    """Where the model server runs (the PodMonitor's namespace and target)."""
    version_label: str
    """The pod label carrying the model version (components/serving_pods.py)."""
    retention_days: int = 15
    """Default 15. Days of metrics kept."""
    storage_gib: int = 50
    """Default 50. Size of each Prometheus replica's gp3 volume."""
    replicas: int = 1
    """Default 1. Prometheus replicas (each a full copy, on its own volume)."""
    memory: str = "2Gi"
    """Default 2Gi. Memory request and limit of each Prometheus pod."""
    reclaim_policy: str = "Delete"
    """Default "Delete". What happens to a volume when its claim goes ("Retain" in prod)."""

    def __post_init__(self) -> None:
        if not 1 <= self.retention_days <= 365:
            raise ValueError(f"retention_days {self.retention_days}: 1..365")
        if not 10 <= self.storage_gib <= 16384:
            raise ValueError(f"storage_gib {self.storage_gib}: 10..16384 (gp3 volumes end at 16 TiB)")
        if self.reclaim_policy not in ("Delete", "Retain"):
            raise ValueError(f"reclaim_policy {self.reclaim_policy!r}: 'Delete' or 'Retain'")


def storage_class_parameters() -> dict[str, str]:
    """gp3, encrypted at rest (the account's default EBS key unless one is named), ext4.
    https://github.com/kubernetes-sigs/aws-ebs-csi-driver/blob/master/docs/parameters.md"""
    return {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"}


def dashboard_files() -> dict[str, str]:
    """{ConfigMap key: dashboard JSON} of every dashboard shipped in components/dashboards/ (checked to parse)."""
    files = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        json.loads(path.read_text())
        files[path.name] = path.read_text()
    return files


class MetricsStack(pulumi.ComponentResource):
    """Prometheus, Grafana, the serving PodMonitor and the model-serving dashboard."""

    namespace: pulumi.Output[str]
    """The monitoring namespace."""
    prometheus_url: str
    """The in-cluster URL of Prometheus' API."""
    release: kubernetes.helm.v3.Release
    """The kube-prometheus-stack release (its CRDs: wait for it before declaring monitors)."""

    def __init__(self, name: str, args: MetricsStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:monitoring:MetricsStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/part-of": "mlserve"}
        namespace = kubernetes.core.v1.Namespace(
            f"{name}-namespace",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=stack.NAMESPACE, labels={
                **labels,
                # The chart's pods run as non-root with RuntimeDefault seccomp; "baseline" enforced, "restricted" warned.
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/warn": "restricted",
            }),
            opts=child,
        )
        # Through the EBS CSI driver (a managed add-on of the cluster); bound where the pod lands, so
        # the volume is made in the pod's zone. https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html
        storage_class = kubernetes.storage.v1.StorageClass(
            f"{name}-storage-class",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS, labels=labels),
            provisioner=EBS_CSI_PROVISIONER,
            parameters=storage_class_parameters(),
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy=args.reclaim_policy,
            opts=child,
        )
        release = kubernetes.helm.v3.Release(
            f"{name}-prometheus-stack",
            name=stack.RELEASE, chart=stack.CHART, version=stack.CHART_VERSION,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=stack.REPOSITORY),
            namespace=namespace.metadata.name,
            values=stack.prometheus_stack_values(retention_days=args.retention_days, storage_gib=args.storage_gib,
                                                 replicas=args.replicas, memory=args.memory, storage_class=STORAGE_CLASS),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[storage_class]),
        )
        key, value = stack.DASHBOARD_LABEL
        kubernetes.core.v1.ConfigMap(
            f"{name}-dashboards",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name="mlserve-dashboards", namespace=namespace.metadata.name,
                                                       labels={**labels, key: value}),
            data=dashboard_files(),
            opts=child,
        )
        kubernetes.apiextensions.CustomResource(
            f"{name}-serving-pods",
            api_version=specs.MONITORING_API, kind="PodMonitor",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name="model-server", namespace=args.serving_namespace, labels=labels),
            spec=specs.pod_monitor_spec(namespace=args.serving_namespace,
                                        app_label=APP_LABEL, track_label=TRACK_LABEL, version_label=args.version_label),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),  # the CRD comes with the chart
        )
        self.namespace = namespace.metadata.name
        self.prometheus_url = stack.PROMETHEUS_URL
        self.release = release
        self.register_outputs({"namespace": self.namespace, "prometheus_url": self.prometheus_url})

