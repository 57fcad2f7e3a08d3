"""What only the EKS target has: the `serving` section (the image, and per track its pool,
replicas, resources and server limits) and the `mesh` section (the ingress and who may call it).

Which versions serve and how traffic splits between them are in `mlserve/stack/settings/models.py`,
shared with SageMaker. The server's own limits default to `serving_app/settings.py`'s, and are
checked by that same class, so a value the server would refuse fails `make preview` instead.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlserve.stack.settings.base import NAMESPACE, _Model
from serving_app import settings as server_settings

_SERVER_DEFAULTS = server_settings.Settings()
# CPU as Kubernetes writes it: "500m" or "2" / "1.5"; memory in Mi or Gi (what the docs use).
# https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#resource-units-in-kubernetes
_CPU = re.compile(r"^(?P<milli>[1-9]\d*)m$|^(?P<cores>\d+(\.\d{1,3})?)$")
_MEMORY = re.compile(r"^(?P<amount>[1-9]\d*)(?P<unit>Mi|Gi)$")
ACM_CERTIFICATE_ARN = r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$"


def cpu_millicores(text: str) -> int:
    """"500m" -> 500, "2" -> 2000. Raises ValueError for anything else."""
    match = _CPU.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a CPU quantity such as '500m' or '2'")
    return int(match["milli"]) if match["milli"] else round(float(match["cores"]) * 1000)


def memory_mebibytes(text: str) -> int:
    """"512Mi" -> 512, "2Gi" -> 2048. Raises ValueError for anything else."""
    match = _MEMORY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a memory quantity such as '512Mi' or '2Gi'")
    return int(match["amount"]) * (1024 if match["unit"] == "Gi" else 1)


class Resources(_Model):
    """A container's CPU and memory (Kubernetes quantities)."""

    cpu: str
    memory: str

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, text: str) -> str:
        cpu_millicores(text)
        return text

    @field_validator("memory")
    @classmethod
    def _memory(cls, text: str) -> str:
        memory_mebibytes(text)
        return text


class ServerLimits(_Model):
    """The server's batching and limit settings, passed to the pods as `MLSERVE_*` variables.
    Defaults are the server's own (`serving_app/settings.py`)."""

    max_batch_size: int = _SERVER_DEFAULTS.max_batch_size
    max_batch_wait_ms: float = _SERVER_DEFAULTS.max_batch_wait_ms
    max_body_bytes: int = _SERVER_DEFAULTS.max_body_bytes
    max_rows_per_request: int = _SERVER_DEFAULTS.max_rows_per_request
    max_concurrent_requests: int = _SERVER_DEFAULTS.max_concurrent_requests
    max_queued_rows: int = _SERVER_DEFAULTS.max_queued_rows
    max_queued_bytes: int = _SERVER_DEFAULTS.max_queued_bytes
    max_queue_wait_ms: float = _SERVER_DEFAULTS.max_queue_wait_ms
    request_timeout_s: float = _SERVER_DEFAULTS.request_timeout_s
    shutdown_grace_s: float = Field(default=_SERVER_DEFAULTS.shutdown_grace_s, le=300)
    """After SIGTERM, how long in-flight requests may finish; the pod's grace period is derived from it."""

    @model_validator(mode="after")
    def _server_accepts(self) -> ServerLimits:
        # The server's own validation, so a combination it refuses at start fails here.
        try:
            server_settings.Settings(**self.model_dump())
        except server_settings.SettingsError as error:
            raise ValueError(str(error).removeprefix("invalid settings: ")) from None
        return self

    def env(self) -> dict[str, str]:
        """The `MLSERVE_*` variables for these values (every one, so the pod spec says what runs)."""
        names = {f.name for f in fields(server_settings.Settings)}
        return {server_settings.ENV_PREFIX + key.upper(): str(value)
                for key, value in self.model_dump().items() if key in names}


class TrackServing(_Model):
    """How one track (stable or canary) runs on EKS."""

    node_pool: str = "cpu"
    """The `nodePools[].name` its pods run on; a GPU pool needs `gpus >= 1`."""
    gpus: int = Field(default=0, ge=0, le=8)
    """`nvidia.com/gpu` per pod; above 0 only on a GPU pool."""
    min_replicas: int = Field(default=2, ge=1, le=500)
    max_replicas: int = Field(default=6, ge=1, le=500)
    cpu_target_percent: int = Field(default=70, ge=10, le=95)
    """The HPA's average CPU utilization target, in percent of the CPU request."""
    requests: Resources = Field(default_factory=lambda: Resources(cpu="1", memory="1Gi"))
    limits: Resources = Field(default_factory=lambda: Resources(cpu="2", memory="1Gi"))
    server: ServerLimits = Field(default_factory=ServerLimits)

    @model_validator(mode="after")
    def _consistent(self) -> TrackServing:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"need minReplicas <= maxReplicas, got {self.min_replicas} > {self.max_replicas}")
        if cpu_millicores(self.requests.cpu) > cpu_millicores(self.limits.cpu):
            raise ValueError(f"requests.cpu {self.requests.cpu} is above limits.cpu {self.limits.cpu}")
        if memory_mebibytes(self.requests.memory) > memory_mebibytes(self.limits.memory):
            raise ValueError(f"requests.memory {self.requests.memory} is above limits.memory {self.limits.memory}")
        return self


class ImageSettings(_Model):
    """The serving image built from `serving_app/Dockerfile`."""

    tag: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}$")
    """Default: "git-<commit>" of the working tree. The repository is immutable: a new image needs a new tag."""
    allow_dirty_tree: bool = False
    """Default false: with no `tag`, a working tree with uncommitted changes under serving_app/ is refused
    (the tag would name an image no commit can rebuild). dev sets true."""


class ServingSettings(_Model):
    """The model server on EKS: the image and one block per track."""

    image: ImageSettings = Field(default_factory=ImageSettings)
    stable: TrackServing = Field(default_factory=TrackServing)
    canary: TrackServing = Field(default_factory=TrackServing)
    """Used only when `models.canary` is set."""


class MeshSettings(_Model):
    """The Istio ingress: how the load balancer is exposed and who may call it."""

    ingress_scheme: Literal["internal", "internet-facing"] = "internal"
    """The NLB's scheme. `internet-facing` needs `certificateArn` (no plaintext over the internet)."""
    certificate_arn: str | None = None
    """ACM certificate for TLS on the NLB's 443 listener; without it the ingress serves HTTP on 80."""
    hosts: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    """Host names the Gateway and VirtualService answer for."""
    jwt_issuer: str | None = None
    """When set (with `jwksUri`), every request needs a valid JWT from this issuer."""
    jwks_uri: str | None = None
    replicas: int = Field(default=2, ge=1, le=10)
    """Fewest pods of istiod, the ingress gateway and the load balancer controller (dev: 1)."""
    metrics_scraper: str = Field(default="monitoring/prometheus", pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")
    """"<namespace>/<service account>" of the Prometheus allowed to GET /metrics through the mesh."""

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, arn: str | None) -> str | None:
        if arn is not None and not re.fullmatch(ACM_CERTIFICATE_ARN, arn):
            raise ValueError("not an ACM certificate ARN such as arn:aws:acm:us-west-2:123456789012:certificate/<uuid>")
        return arn

    @field_validator("jwt_issuer", "jwks_uri")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https://[^\s/]+(/\S*)?", url):
            raise ValueError("an https:// URL (Istio fetches keys and checks issuers over TLS only)")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> MeshSettings:
        if (self.jwt_issuer is None) != (self.jwks_uri is None):
            raise ValueError("jwtIssuer and jwksUri go together: set both or neither")
        if self.ingress_scheme == "internet-facing" and self.certificate_arn is None:
            raise ValueError("ingressScheme: internet-facing needs certificateArn (TLS from ACM)")
        return self


def serving_problems(serving: ServingSettings, *, node_pools, has_canary: bool, targets) -> list[str]:
    """Rules across `serving` and `nodePools`, each naming the stack-file key. `node_pools` are
    the pool settings (objects with `.name`, `.gpu`)."""
    pools = {pool.name: pool for pool in node_pools}
    if "eks" not in targets or len(pools) != len(node_pools):
        return []  # not served on EKS, or pool names repeat (reported on nodePools itself)
    problems = []
    for track in ("stable", "canary") if has_canary else ("stable",):
        settings: TrackServing = getattr(serving, track)
        key = f"{NAMESPACE}:serving.{track}"
        pool = pools.get(settings.node_pool)
        if pool is None:
            problems.append(f"{key}.nodePool = {settings.node_pool!r}: no such pool; nodePools has {sorted(pools)}")
            continue
        if settings.gpus and not pool.gpu:
            problems.append(f"{key}.gpus = {settings.gpus}: pool {pool.name!r} has no GPUs; use a gpu: true pool or gpus: 0")
        if pool.gpu and not settings.gpus:
            problems.append(f"{key}.nodePool = {pool.name!r} is a GPU pool: set gpus >= 1 "
                            "(a pod that requests no GPU would hold a GPU node for nothing)")
    return problems
