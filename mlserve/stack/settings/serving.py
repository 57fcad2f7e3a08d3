"""What only the EKS target has: the `serving` section (the image, and per track its pool,
replicas, resources and server limits) and the `mesh` section (the ingress and who may call it).

Which versions serve and how traffic splits between them are in `mlserve/stack/settings/models.py`,
shared with SageMaker. The server's own limits default to `serving_app/settings.py`'s, and are
checked by that same class, so a value the server would refuse fails `make preview` instead.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import fields
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlserve.stack.settings.base import NAMESPACE, _Model
from serving_app import settings as server_settings

_SERVER_DEFAULTS = server_settings.Settings()


def _server_docs() -> dict[str, str]:
    """The docstring of each field of the server's `Settings` (serving_app/settings.py): the one
    description of its limits, which docs/settings.md shows for `serving.*.server` too."""
    try:
        body = ast.parse(inspect.getsource(server_settings.Settings)).body[0].body
    except (OSError, TypeError):  # no source (a bytecode-only install): the fields go undescribed
        return {}
    return {node.target.id: inspect.cleandoc(doc.value.value) for node, doc in zip(body, body[1:])
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)}


_SERVER_DOCS = _server_docs()
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
    """CPU cores."""
    memory: str
    """Memory."""

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, text: str) -> str:
        """a quantity such as `500m` or `2` (quoted in YAML: `'2'`)"""
        cpu_millicores(text)
        return text

    @field_validator("memory")
    @classmethod
    def _memory(cls, text: str) -> str:
        """a quantity in `Mi` or `Gi`, such as `512Mi` or `2Gi`"""
        memory_mebibytes(text)
        return text


class ServerLimits(_Model):
    """The server's batching and limit settings, passed to the pods as `MLSERVE_*` variables.
    Defaults are the server's own (`serving_app/settings.py`)."""

    max_batch_size: int = Field(default=_SERVER_DEFAULTS.max_batch_size, description=_SERVER_DOCS.get("max_batch_size"))
    max_batch_wait_ms: float = Field(default=_SERVER_DEFAULTS.max_batch_wait_ms, description=_SERVER_DOCS.get("max_batch_wait_ms"))
    max_body_bytes: int = Field(default=_SERVER_DEFAULTS.max_body_bytes, description=_SERVER_DOCS.get("max_body_bytes"))
    max_rows_per_request: int = Field(default=_SERVER_DEFAULTS.max_rows_per_request, description=_SERVER_DOCS.get("max_rows_per_request"))
    max_concurrent_requests: int = Field(default=_SERVER_DEFAULTS.max_concurrent_requests, description=_SERVER_DOCS.get("max_concurrent_requests"))
    max_queued_rows: int = Field(default=_SERVER_DEFAULTS.max_queued_rows, description=_SERVER_DOCS.get("max_queued_rows"))
    max_queued_bytes: int = Field(default=_SERVER_DEFAULTS.max_queued_bytes, description=_SERVER_DOCS.get("max_queued_bytes"))
    queue_wait_target_ms: float = Field(default=_SERVER_DEFAULTS.queue_wait_target_ms, description=_SERVER_DOCS.get("queue_wait_target_ms"))
    max_queue_wait_ms: float = Field(default=_SERVER_DEFAULTS.max_queue_wait_ms, description=_SERVER_DOCS.get("max_queue_wait_ms"))
    request_timeout_s: float = Field(default=_SERVER_DEFAULTS.request_timeout_s, description=_SERVER_DOCS.get("request_timeout_s"))
    shutdown_grace_s: float = Field(default=_SERVER_DEFAULTS.shutdown_grace_s, le=300)
    """After SIGTERM, how long in-flight requests may finish; the pod's grace period is derived from it."""

    @model_validator(mode="after")
    def _server_accepts(self) -> ServerLimits:
        """What the server's own `Settings` accepts (`serving_app/settings.py`): counts >= 1, times >= 0,
        `maxQueuedRows >= maxRowsPerRequest`."""
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
    """Fewest pods (the HorizontalPodAutoscaler's minimum; prod's policy wants at least 2)."""
    max_replicas: int = Field(default=6, ge=1, le=500)
    """Most pods (the HorizontalPodAutoscaler's maximum)."""
    cpu_target_percent: int = Field(default=70, ge=10, le=95)
    """The autoscaler's second signal: average CPU utilization of the server container, in percent of its request."""
    queued_requests_target: int = Field(default=4, ge=1, le=10_000)
    """The autoscaler's first signal: requests waiting in each pod's batch queue (the server's
    `mlserve_queue_depth_requests`, from Prometheus) that the autoscaler holds on average."""
    requests: Resources = Field(default_factory=lambda: Resources(cpu="1", memory="1Gi"))
    """What the scheduler reserves per pod (the HPA's CPU percentages are of this)."""
    limits: Resources = Field(default_factory=lambda: Resources(cpu="2", memory="1Gi"))
    """The most a pod may use (CPU throttled, memory above it kills the container)."""
    server: ServerLimits = Field(default_factory=ServerLimits)
    """The server's batching and limits in these pods."""

    @model_validator(mode="after")
    def _consistent(self) -> TrackServing:
        """`minReplicas <= maxReplicas`; `requests` at most `limits`, for CPU and memory."""
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
    """The image tag (variants append `-cpu`/`-gpu`); none: `git-<commit>` of the working tree. The
    repository's tags are immutable: a new image needs a new tag."""
    allow_dirty_tree: bool = False
    """With no `tag`, allow uncommitted changes under serving_app/ (tag `git-<commit>-dirty-<hash>`);
    false refuses them, since the tag would name an image no commit can rebuild. dev sets true."""


class ServingSettings(_Model):
    """The model server on EKS: the image and one block per track."""

    image: ImageSettings = Field(default_factory=ImageSettings)
    """The serving image: its tag and whether a dirty tree may build it."""
    stable: TrackServing = Field(default_factory=TrackServing)
    """How the pods serving `models.stable` run."""
    canary: TrackServing = Field(default_factory=TrackServing)
    """How the pods serving `models.canary` run (used only when it is set)."""


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
    """Where Istio fetches the issuer's signing keys; set with `jwtIssuer`, or neither."""
    replicas: int = Field(default=2, ge=1, le=10)
    """Fewest pods of istiod, the ingress gateway and the load balancer controller (dev: 1). Their PDBs
    let one pod go at a time, so one replica never blocks a node drain."""

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, arn: str | None) -> str | None:
        """an ACM certificate ARN such as `arn:aws:acm:us-west-2:123456789012:certificate/<uuid>`"""
        if arn is not None and not re.fullmatch(ACM_CERTIFICATE_ARN, arn):
            raise ValueError("not an ACM certificate ARN such as arn:aws:acm:us-west-2:123456789012:certificate/<uuid>")
        return arn

    @field_validator("jwt_issuer", "jwks_uri")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        """an `https://` URL"""
        if url is not None and not re.fullmatch(r"https://[^\s/]+(/\S*)?", url):
            raise ValueError("an https:// URL (Istio fetches keys and checks issuers over TLS only)")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> MeshSettings:
        """`jwtIssuer` and `jwksUri` go together; `ingressScheme: internet-facing` needs `certificateArn`."""
        if (self.jwt_issuer is None) != (self.jwks_uri is None):
            raise ValueError("jwtIssuer and jwksUri go together: set both or neither")
        if self.ingress_scheme == "internet-facing" and self.certificate_arn is None:
            raise ValueError("ingressScheme: internet-facing needs certificateArn (TLS from ACM)")
        return self


def serving_problems(serving: ServingSettings, *, node_pools, has_canary: bool, targets,
                     automatic: bool = False) -> list[str]:
    """Rules across `serving` and `nodePools`, each naming the stack-file key. `node_pools` are
    the pool settings (objects with `.name`, `.gpu`); `automatic`: `rollout.mode` is automatic, so
    during an analysis Flagger's canary runs beside the stable track's primary."""
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
    problems += _gpu_capacity_problems(serving, node_pools, ("stable", "canary") if has_canary else ("stable",),
                                       automatic=automatic)
    return problems


def _gpu_capacity_problems(serving: ServingSettings, node_pools, tracks, *, automatic: bool = False) -> list[str]:
    """A GPU pool's minSize holds the minimum replicas of the tracks it hosts (the component rule
    `components.node_pools.gpu_capacity_problem`, with the stack file's key names). Under an automatic
    rollout a track counts twice: Flagger starts its canary at the same minimum beside the primary."""
    from components.node_pools import GPUS_PER_INSTANCE

    problems = []
    for index, pool in enumerate(node_pools):
        on_pool = [t for t in tracks if getattr(serving, t).node_pool == pool.name and getattr(serving, t).gpus]
        if not pool.gpu or not on_pool or any(t not in GPUS_PER_INSTANCE for t in pool.instance_types):
            continue
        per_node = min(GPUS_PER_INSTANCE[t] for t in pool.instance_types)
        if any(getattr(serving, t).gpus > per_node for t in on_pool):
            continue  # a pod larger than a node: reported by the component rule
        copies = 2 if automatic else 1
        needed = copies * sum(-(-getattr(serving, t).min_replicas // (per_node // getattr(serving, t).gpus)) for t in on_pool)
        if pool.min_size < needed:
            hosted = " + ".join(f"{NAMESPACE}:serving.{t}.minReplicas {getattr(serving, t).min_replicas} x "
                                f"gpus {getattr(serving, t).gpus}" for t in on_pool)
            if automatic:
                hosted += " (twice: rollout.mode automatic runs Flagger's canary beside the primary)"
            problems.append(f"{NAMESPACE}:nodePools[{index}].minSize = {pool.min_size} (name: {pool.name}): "
                            f"{pool.min_size} node(s) of {per_node} GPU(s) cannot start {hosted}, which need "
                            f"{needed}; raise minSize to {needed}, lower the replicas, or run the track on a CPU "
                            "pool (serving.<track>.nodePool)")
    return problems
