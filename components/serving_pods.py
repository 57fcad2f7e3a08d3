"""The model server's pod as plain functions: scheduling on its node pool, the hardened container,
probes, the drain arithmetic, and the autoscaler's behaviour, each returning pulumi-kubernetes'
typed `*Args` (a misspelled field raises at once). `components/serving.py` declares them; tests
read them back from the recorded objects and check them against the cluster's strict schema.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
import pulumi_kubernetes as kubernetes

from components.node_pools import GPU_RESOURCE, POOL_LABEL, TAINT_EFFECTS, NodePoolArgs, node_labels
from components.serving_contract import APP_LABEL, APP_NAME, PORT_NAME, SERVICE_PORT, TRACK_LABEL, TRACKS

# The image's fixed numeric user (serving_app/Dockerfile: useradd --uid 10001).
IMAGE_UID = 10001
PRE_STOP_SLEEP_S = 5
"""After SIGTERM is due, the pod keeps serving this long so endpoints and the mesh stop routing to it
first (EndpointSlice propagation is asynchronous).
https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-implementations"""
TERMINATION_MARGIN_S = 5
"""Seconds of the grace period left after the server's own drain, before kubelet sends SIGKILL."""
TMP_SIZE_LIMIT = "8Gi"  # s3:// artifacts are downloaded under /tmp (serving_app/README.md "Image")
core = kubernetes.core.v1
autoscaling = kubernetes.autoscaling.v2
MODEL_LABEL = "mlserve.io/model"
VERSION_LABEL = "mlserve.io/model-version"


def termination_grace_seconds(shutdown_grace_s: float, *, pre_stop_s: int = PRE_STOP_SLEEP_S,
                              margin_s: int = TERMINATION_MARGIN_S) -> int:
    """Kubelet runs preStop, then sends SIGTERM; the server then drains for up to SHUTDOWN_GRACE_S.
    The grace period covers both, plus a margin, so in-flight requests finish before SIGKILL.
    https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination"""
    return pre_stop_s + math.ceil(shutdown_grace_s) + margin_s


@dataclass(frozen=True, kw_only=True)
class TrackPodSpec:
    """What differs between the stable and the canary pod (resolved values, no Pulumi inputs)."""

    track: str
    """"stable" or "canary"."""
    model_name: str
    """Model name in the store, e.g. "fraud-model" (a pod label)."""
    model_version: str
    """Model version, e.g. "4" (a pod label)."""
    node_pool: NodePoolArgs
    """The pool the pods run on: its labels and taints give the nodeSelector and tolerations."""
    gpus: int = 0
    """Default 0. `nvidia.com/gpu` per pod; only on a GPU pool."""
    requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "1", "memory": "1Gi"})
    """Default 1 CPU, 1Gi."""
    limits: Mapping[str, str] = field(default_factory=lambda: {"cpu": "2", "memory": "1Gi"})
    """Default 2 CPU, 1Gi (memory limit = request: the pod is never OOM-killed by a neighbour's burst)."""
    server_env: Mapping[str, str] = field(default_factory=dict)
    """`MLSERVE_*` batching and limit settings (not the model URI, which comes from the store)."""
    shutdown_grace_s: float = 20.0
    """Default 20 (the server's). The server's MLSERVE_SHUTDOWN_GRACE_S; the grace period derives from it."""

    def __post_init__(self) -> None:
        if self.track not in TRACKS:
            raise ValueError(f"track {self.track!r}: one of {TRACKS}")
        if self.gpus and not self.node_pool.gpu:
            raise ValueError(f"{self.track}: gpus={self.gpus} on pool {self.node_pool.name!r}, which has no GPUs")
        if self.node_pool.gpu and not self.gpus:
            raise ValueError(f"{self.track}: pool {self.node_pool.name!r} is a GPU pool; set gpus >= 1")
        if any(not key.startswith("MLSERVE_") or key == "MLSERVE_MODEL_URI" for key in self.server_env):
            raise ValueError(f"server_env takes MLSERVE_* settings other than MLSERVE_MODEL_URI, got {sorted(self.server_env)}")
        for value in (self.model_name, self.model_version):
            if not value or len(value) > 63:
                raise ValueError(f"model name/version {value!r} must be a 1-63 character label value")


METRICS_PATH = "/metrics"
"""The server's Prometheus route (serving_app/README.md)."""


def pod_annotations(spec: TrackPodSpec) -> dict[str, str]:
    """- The sidecar keeps draining connections as long as the server drains, so an answer still in
      flight after SIGTERM gets out. https://istio.io/v1.30/docs/reference/config/istio.mesh.v1alpha1/#ProxyConfig
    - Where the server's own metrics are: Istio's injector moves these `prometheus.io/*` annotations
      into the sidecar (ISTIO_PROMETHEUS_ANNOTATIONS) and points them at its merged endpoint (15020,
      /stats/prometheus, plain HTTP), which then carries the server's metrics beside Envoy's. Without
      them only Envoy's metrics are merged, and the CloudWatch agent (components/eks_monitoring.py)
      finds none of the server's. https://istio.io/latest/docs/ops/integrations/prometheus/#option-1-metrics-merging"""
    drain = PRE_STOP_SLEEP_S + math.ceil(spec.shutdown_grace_s)
    return {"proxy.istio.io/config": json.dumps({"terminationDrainDuration": f"{drain}s"}),
            "prometheus.io/scrape": "true", "prometheus.io/port": str(SERVICE_PORT), "prometheus.io/path": METRICS_PATH}


def pod_labels(spec: TrackPodSpec) -> dict[str, str]:
    """The labels the Service (APP_LABEL), the DestinationRule subsets (TRACK_LABEL) and people select on."""
    return {APP_LABEL: APP_NAME, TRACK_LABEL: spec.track, MODEL_LABEL: spec.model_name, VERSION_LABEL: spec.model_version}


def selector_labels(track: str) -> dict[str, str]:
    """The Deployment's (immutable) selector: app and track only, so a new model version rolls in place."""
    return {APP_LABEL: APP_NAME, TRACK_LABEL: track}


def node_selector(pool: NodePoolArgs) -> dict[str, str]:
    """Select the pool by the label its nodes carry (components/node_pools.py sets it)."""
    return {POOL_LABEL: node_labels(pool)[POOL_LABEL]}


def tolerations(pool: NodePoolArgs) -> list[core.TolerationArgs]:
    """Tolerate exactly the pool's taints, in Kubernetes spelling."""
    return [core.TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=TAINT_EFFECTS[t.effect])
            for t in pool.taints]


def resources(spec: TrackPodSpec) -> core.ResourceRequirementsArgs:
    """Requests and limits; a GPU pod asks for its GPUs in both (extended resources must be equal)."""
    requests, limits = dict(spec.requests), dict(spec.limits)
    if spec.gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(spec.gpus)
    return core.ResourceRequirementsArgs(requests=requests, limits=limits)


def _http_get(path: str, *, period_seconds: int, failure_threshold: int) -> core.ProbeArgs:
    return core.ProbeArgs(http_get=core.HTTPGetActionArgs(path=path, port=PORT_NAME), timeout_seconds=2,
                          period_seconds=period_seconds, failure_threshold=failure_threshold)


def startup_probe() -> core.ProbeArgs:
    """Waits for the model download and warm-up: up to 10 minutes before liveness takes over."""
    return _http_get("/v2/health/live", period_seconds=5, failure_threshold=120)


def readiness_probe() -> core.ProbeArgs:
    """/v2/health/ready: false until the warm-up prediction ran, and again from SIGTERM on (serving_app/README.md)."""
    return _http_get("/v2/health/ready", period_seconds=5, failure_threshold=2)


def liveness_probe() -> core.ProbeArgs:
    """/v2/health/live: a hung process is restarted after 30 s."""
    return _http_get("/v2/health/live", period_seconds=10, failure_threshold=3)


def container_security_context() -> core.SecurityContextArgs:
    """What Pod Security `restricted` asks of a container, plus a read-only root filesystem.
    https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"""
    return core.SecurityContextArgs(
        allow_privilege_escalation=False, read_only_root_filesystem=True, run_as_non_root=True,
        run_as_user=IMAGE_UID, run_as_group=IMAGE_UID, capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security_context() -> core.PodSecurityContextArgs:
    """Pod-wide: non-root, the image's UID, RuntimeDefault seccomp (the injected sidecar inherits it)."""
    return core.PodSecurityContextArgs(run_as_non_root=True, run_as_user=IMAGE_UID, run_as_group=IMAGE_UID,
                                       fs_group=IMAGE_UID, seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"))


def topology_spread(track: str, selector: Mapping[str, str] | None = None) -> list[core.TopologySpreadConstraintArgs]:
    """Spread each rollout's pods over zones and nodes. Soft (ScheduleAnyway): a pool with nodes in
    fewer zones than replicas still runs them all. `matchLabelKeys` counts one ReplicaSet at a time.
    `selector`: the Deployment's (default: the track's). Flagger rewrites it for its primary.
    https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/"""
    return [
        core.TopologySpreadConstraintArgs(
            max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
            label_selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=dict(selector or selector_labels(track))),
            match_label_keys=["pod-template-hash"])
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def scaling_behavior() -> dict:
    """Scale up at once (double per 30 s at most); scale down after 5 minutes of lower load, by at
    most a fifth per minute, so a short lull does not drop the capacity the next burst needs. The
    HPA's `behavior` (KEDA passes it through to the HPA it makes).
    https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#configurable-scaling-behavior"""
    def rules(window: int, percent: int, period: int) -> dict:
        return {"stabilizationWindowSeconds": window, "policies": [{"type": "Percent", "value": percent, "periodSeconds": period}]}

    return {"scaleUp": rules(0, 100, 30), "scaleDown": rules(300, 20, 60)}


def container_ports() -> list[core.ContainerPortArgs]:
    return [core.ContainerPortArgs(name=PORT_NAME, container_port=SERVICE_PORT, protocol="TCP")]
