"""The model server's pod as plain functions: scheduling on its node pool, the hardened container,
probes, the drain arithmetic, and the autoscaler's behaviour. `components/serving.py` declares
them; tests check them without Pulumi and against the cluster's strict schema.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


def pod_labels(spec: TrackPodSpec) -> dict[str, str]:
    """The labels the Service (APP_LABEL), the DestinationRule subsets (TRACK_LABEL) and people select on."""
    return {APP_LABEL: APP_NAME, TRACK_LABEL: spec.track, MODEL_LABEL: spec.model_name, VERSION_LABEL: spec.model_version}


def selector_labels(track: str) -> dict[str, str]:
    """The Deployment's (immutable) selector: app and track only, so a new model version rolls in place."""
    return {APP_LABEL: APP_NAME, TRACK_LABEL: track}


def node_selector(pool: NodePoolArgs) -> dict[str, str]:
    """Select the pool by the label its nodes carry (components/node_pools.py sets it)."""
    return {POOL_LABEL: node_labels(pool)[POOL_LABEL]}


def tolerations(pool: NodePoolArgs) -> list[dict[str, str]]:
    """Tolerate exactly the pool's taints, in Kubernetes spelling."""
    return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": TAINT_EFFECTS[t.effect]} for t in pool.taints]


def resources(spec: TrackPodSpec) -> dict[str, dict[str, str]]:
    """Requests and limits; a GPU pod asks for its GPUs in both (extended resources must be equal)."""
    requests, limits = dict(spec.requests), dict(spec.limits)
    if spec.gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(spec.gpus)
    return {"requests": requests, "limits": limits}


def probes() -> dict[str, dict[str, Any]]:
    """On the server's health routes (serving_app/README.md): startup waits for the model download
    and warm-up (up to 10 min), readiness follows /v2/health/ready, liveness /v2/health/live."""
    def get(path: str, **timing: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": PORT_NAME}, "timeoutSeconds": 2, **timing}

    return {
        "startupProbe": get("/v2/health/live", periodSeconds=5, failureThreshold=120),
        "readinessProbe": get("/v2/health/ready", periodSeconds=5, failureThreshold=2),
        "livenessProbe": get("/v2/health/live", periodSeconds=10, failureThreshold=3),
    }


def container_security_context() -> dict[str, Any]:
    """What Pod Security `restricted` asks of a container, plus a read-only root filesystem.
    https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted"""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "runAsGroup": IMAGE_UID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    """Pod-wide: non-root, the image's UID, RuntimeDefault seccomp (the injected sidecar inherits it)."""
    return {"runAsNonRoot": True, "runAsUser": IMAGE_UID, "runAsGroup": IMAGE_UID, "fsGroup": IMAGE_UID,
            "seccompProfile": {"type": "RuntimeDefault"}}


def topology_spread(track: str) -> list[dict[str, Any]]:
    """Spread each rollout's pods over zones and nodes. Soft (ScheduleAnyway): a pool with nodes in
    fewer zones than replicas still runs them all. `matchLabelKeys` counts one ReplicaSet at a time.
    https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/"""
    return [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": selector_labels(track)}, "matchLabelKeys": ["pod-template-hash"]}
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def hpa_behavior() -> dict[str, Any]:
    """Scale up at once (double per 30 s at most); scale down after 5 minutes of lower load, by at
    most a fifth per minute, so a short lull does not drop the capacity the next burst needs.
    https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#configurable-scaling-behavior"""
    return {
        "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 30}]},
        "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 20, "periodSeconds": 60}]},
    }


def container_ports() -> list[dict[str, Any]]:
    return [{"name": PORT_NAME, "containerPort": SERVICE_PORT, "protocol": "TCP"}]
