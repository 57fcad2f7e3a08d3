"""Flagger (pinned chart and image, Istio provider) and its load tester, the metric templates the
canary analysis runs, and where rollout events go (`rollout.mode: automatic`).

- Flagger runs in `flagger-system` and reads Prometheus (components/metrics_stack.py); it needs no
  sidecar (it talks to the Kubernetes API and Prometheus only).
- The load tester runs in its own namespace, in the mesh (a sidecar, so its calls to the canary pass
  STRICT mTLS and the AuthorizationPolicy admits it by service account), with no Kubernetes API token.
  It runs the pre-rollout acceptance check and the optional load test (components/delivery_specs.py).
- MetricTemplates and the AlertProvider live in the serving namespace, beside the Canary.

The Canary itself is `components/canary.py`. The Kubernetes provider comes in through `opts`.
https://docs.flagger.app/install/flagger-install-on-kubernetes
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

from components import delivery_specs as specs
from components import network_policies
from components.mesh_charts import ISTIO_NAMESPACE

CHART_VERSION = "1.44.0"
"""https://github.com/fluxcd/flagger/tree/v1.44.0/charts/flagger (its CRDs are vendored under tests/data/)."""
LOADTESTER_CHART_VERSION = "0.38.0"
"""https://github.com/fluxcd/flagger/tree/v1.44.0/charts/loadtester"""
REPOSITORY = "https://flagger.app"
IMAGE = ("ghcr.io/fluxcd/flagger", "1.44.0")
LOADTESTER_IMAGE = ("ghcr.io/fluxcd/flagger-loadtester", "0.38.0")
NAMESPACE = "flagger-system"
LOADTESTER_NAMESPACE = "mlserve-loadtest"
LOADTESTER_RELEASE = "flagger-loadtester"
LOADTESTER_SERVICE_ACCOUNT = "flagger-loadtester"
LOADTESTER_URL = f"http://{LOADTESTER_RELEASE}.{LOADTESTER_NAMESPACE}/"
"""The load tester's Service (port 80), where the Canary's webhooks post."""
LOADTESTER_UID = 100
"""The image's `app` user (adduser -S in Dockerfile.loadtester; the chart's suggested runAsUser)."""

_RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                         "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
"""What Pod Security `restricted` asks of a container. https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"""


def flagger_values(*, prometheus_url: str) -> dict[str, Any]:
    return {
        "image": {"repository": IMAGE[0], "tag": IMAGE[1]},
        "meshProvider": "istio",
        "metricsServer": prometheus_url,
        "securityContext": {"enabled": True, "context": {**_RESTRICTED_CONTAINER, "runAsUser": 10001}},
        "podDisruptionBudget": {"enabled": False},
    }


def loadtester_values() -> dict[str, Any]:
    return {
        "image": {"repository": LOADTESTER_IMAGE[0], "tag": LOADTESTER_IMAGE[1]},
        "serviceAccountName": LOADTESTER_SERVICE_ACCOUNT,
        # bash's `curl | jq` writes nothing to disk, and hey keeps its results in memory.
        "securityContext": {"enabled": True, "context": {**_RESTRICTED_CONTAINER, "runAsUser": LOADTESTER_UID,
                                                         "runAsGroup": LOADTESTER_UID + 1}},
        "podSecurityContext": {"enabled": True, "context": {"runAsNonRoot": True, "fsGroup": LOADTESTER_UID + 1,
                                                            "seccompProfile": {"type": "RuntimeDefault"}}},
    }


@dataclass(frozen=True, kw_only=True)
class FlaggerArgs:
    """Where Flagger reads metrics and where the Canary's companions go."""

    serving_namespace: str
    """The model server's namespace (MetricTemplates and the AlertProvider go there)."""
    prometheus_url: str
    """Prometheus' in-cluster URL (components/metrics_stack.py)."""
    alert_provider: str | None = None
    """Default none. Flagger AlertProvider type ("slack", "msteams", ...) for rollout events."""
    alert_secret: str | None = None
    """The Secret in the serving namespace whose `address` is the webhook URL; with `alert_provider`."""
    alert_channel: str | None = None
    """Default none. Slack channel."""

    def __post_init__(self) -> None:
        if (self.alert_provider is None) != (self.alert_secret is None):
            raise ValueError("alert_provider and alert_secret go together")


class Flagger(pulumi.ComponentResource):
    """Flagger, its load tester, the metric templates and the alert provider."""

    templates_namespace: str
    """Where the MetricTemplates are."""
    loadtester_url: str
    """The load tester's URL for the Canary's webhooks."""
    loadtester_principal: str
    """The load tester's mesh identity (the AuthorizationPolicy admits it)."""
    alert_provider_name: str | None
    """The AlertProvider's name, or None."""
    ready: list[pulumi.Resource]
    """What a Canary must wait for (Flagger's CRDs, the templates, the load tester)."""

    def __init__(self, name: str, args: FlaggerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:delivery:Flagger", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        part_of = {"app.kubernetes.io/part-of": "mlserve"}

        def namespace(role: str, ns: str, extra: dict[str, str]) -> kubernetes.core.v1.Namespace:
            return kubernetes.core.v1.Namespace(f"{name}-{role}-namespace", metadata=kubernetes.meta.v1.ObjectMetaArgs(
                name=ns, labels={**part_of, "pod-security.kubernetes.io/enforce": "restricted", **extra}), opts=child)

        flagger_ns = namespace("flagger", NAMESPACE, {})
        # The CRDs come with the chart (crd.create: false is its default, the crds/ folder installs them).
        release = kubernetes.helm.v3.Release(
            f"{name}-release", name="flagger", chart="flagger", version=CHART_VERSION,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=REPOSITORY),
            namespace=flagger_ns.metadata.name, values=flagger_values(prometheus_url=args.prometheus_url), opts=child)

        loadtest_ns = namespace("loadtest", LOADTESTER_NAMESPACE, {"istio-injection": "enabled"})
        account = kubernetes.core.v1.ServiceAccount(
            f"{name}-loadtester-account",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=LOADTESTER_SERVICE_ACCOUNT, namespace=loadtest_ns.metadata.name,
                                                       labels=part_of),
            automount_service_account_token=False,  # it runs curl and hey, never kubectl
            opts=child)
        loadtester = kubernetes.helm.v3.Release(
            f"{name}-loadtester", name=LOADTESTER_RELEASE, chart="loadtester", version=LOADTESTER_CHART_VERSION,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=REPOSITORY),
            namespace=loadtest_ns.metadata.name, values=loadtester_values(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]))

        kubernetes.networking.v1.NetworkPolicy(
            f"{name}-loadtester-network", metadata=kubernetes.meta.v1.ObjectMetaArgs(
                name="flagger-loadtester", namespace=loadtest_ns.metadata.name, labels=part_of),
            spec=network_policies.loadtester_policy(flagger_namespace=NAMESPACE, serving_namespace=args.serving_namespace,
                                                    istio_namespace=ISTIO_NAMESPACE),
            opts=child)

        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        templates = [
            kubernetes.apiextensions.CustomResource(
                f"{name}-{template}", api_version=specs.FLAGGER_API, kind="MetricTemplate",
                metadata=kubernetes.meta.v1.ObjectMetaArgs(name=template, namespace=args.serving_namespace, labels=part_of),
                spec=specs.metric_template_spec(template, prometheus_url=args.prometheus_url), opts=after_crds)
            for template in specs.METRIC_TEMPLATES
        ]
        self.alert_provider_name = None
        if args.alert_provider is not None:
            self.alert_provider_name = "mlserve-rollout"
            spec: dict[str, Any] = {"type": args.alert_provider, "secretRef": {"name": args.alert_secret}}
            if args.alert_channel:
                spec["channel"] = args.alert_channel
            templates.append(kubernetes.apiextensions.CustomResource(
                f"{name}-alerts", api_version=specs.FLAGGER_API, kind="AlertProvider",
                metadata=kubernetes.meta.v1.ObjectMetaArgs(name=self.alert_provider_name, namespace=args.serving_namespace,
                                                           labels=part_of),
                spec=spec, opts=after_crds))
        self.templates_namespace = args.serving_namespace
        self.loadtester_url = LOADTESTER_URL
        self.loadtester_principal = f"cluster.local/ns/{LOADTESTER_NAMESPACE}/sa/{LOADTESTER_SERVICE_ACCOUNT}"
        self.ready = [release, loadtester, *templates]
        self.register_outputs({"templates_namespace": self.templates_namespace, "loadtester_url": self.loadtester_url})
