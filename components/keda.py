"""KEDA (pinned chart and images): autoscaling the model server on its own load signal.

Why KEDA and not prometheus-adapter with an HPA: the signal is one PromQL query per Deployment
(queued requests), which KEDA's Prometheus trigger takes as it is, beside a CPU trigger, in one
ScaledObject that makes and owns the HPA; prometheus-adapter needs a cluster-wide rules file that
renames series into a custom-metrics API, and its query is then hidden from the object that scales.
Flagger supports a ScaledObject as the Canary's `autoscalerRef` (it copies it for the primary, with
`primaryScalerQueries`). https://keda.sh/docs/2.20/scalers/prometheus/ and
https://docs.flagger.app/usage/how-it-works#canary-target

The ScaledObjects themselves are declared by `components/serving.py` (bodies in
`components/delivery_specs.py`). The Kubernetes provider comes in through `opts`.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

CHART = "keda"
CHART_VERSION = "2.20.2"
"""https://github.com/kedacore/charts/tree/v2.20.2/keda (KEDA 2.20.2; its ScaledObject CRD is vendored under tests/data/)."""
REPOSITORY = "https://kedacore.github.io/charts"
NAMESPACE = "keda"
IMAGE_TAG = "2.20.2"


def keda_values(*, replicas: int) -> dict[str, Any]:
    """Images at the pinned tag (the chart defaults to its appVersion and pulls `Always`), `replicas`
    operator, metrics API server and webhook pods behind PDBs when above 1."""
    values: dict[str, Any] = {
        "image": {"keda": {"tag": IMAGE_TAG}, "metricsApiServer": {"tag": IMAGE_TAG}, "webhooks": {"tag": IMAGE_TAG},
                  "pullPolicy": "IfNotPresent"},
        "operator": {"replicaCount": replicas},
        "metricsServer": {"replicaCount": replicas},
        "webhooks": {"replicaCount": replicas},
    }
    if replicas > 1:
        values["podDisruptionBudget"] = {"operator": {"maxUnavailable": 1}, "metricServer": {"maxUnavailable": 1},
                                         "webhooks": {"maxUnavailable": 1}}
    return values


class Keda(pulumi.ComponentResource):
    """KEDA in its own namespace."""

    release: kubernetes.helm.v3.Release
    """The release (its CRDs: ScaledObjects wait for it)."""

    def __init__(self, name: str, *, replicas: int, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:autoscaling:Keda", name, None, opts)
        namespace = kubernetes.core.v1.Namespace(
            f"{name}-namespace",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels={
                "app.kubernetes.io/part-of": "mlserve", "pod-security.kubernetes.io/enforce": "restricted"}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = kubernetes.helm.v3.Release(
            f"{name}-release", name=CHART, chart=CHART, version=CHART_VERSION,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=REPOSITORY),
            namespace=namespace.metadata.name, values=keda_values(replicas=replicas),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
