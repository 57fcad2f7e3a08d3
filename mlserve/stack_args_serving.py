"""Settings -> Args for serving on EKS: the image, the mesh, the canary routing and the workloads.

Pure translation, tested without Pulumi where the values are plain. Which versions serve comes
from `models`/`rollout` (shared with SageMaker); how they run on EKS from `serving`/`mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from components.canary_routing import CanaryRoutingArgs
from components.image import GitState, ServingImageArgs, release_tag
from components.mesh import MeshArgs
from components.model_store_layout import bucket_name, model_uri, prefix_arn
from components.serving import ServingArgs, TrackArgs
from components.serving_contract import SERVING_NAMESPACE
from components.serving_pods import TrackPodSpec
from mlserve.settings import Settings
from mlserve.stack_args import node_pool_args

IMAGE_CONTEXT = "serving_app"
ROUTE_TIMEOUT_MARGIN_S = 2


def _map(value, function):
    """`function(value)` for a plain string (plan-time checks run outside any Pulumi run, with no
    event loop for Outputs); an Output applying it otherwise."""
    return function(value) if isinstance(value, str) else pulumi.Output.from_input(value).apply(function)


def serving_tracks(settings: Settings) -> tuple[str, ...]:
    """("stable",) or ("stable", "canary"); () when the stack serves no model."""
    if settings.models is None:
        return ()
    return ("stable", "canary") if settings.models.canary else ("stable",)


def image_variants(settings: Settings) -> tuple[str, ...]:
    """"cpu" always (SageMaker's CPU target and CPU tracks); "gpu" when a served track is on a GPU pool."""
    gpu_pools = {pool.name for pool in settings.node_pools if pool.gpu}
    on_gpu = any(getattr(settings.serving, track).node_pool in gpu_pools for track in serving_tracks(settings))
    return ("cpu", "gpu") if on_gpu and "eks" in settings.targets else ("cpu",)


def image_args(settings: Settings, *, repository_url, git: GitState | None) -> ServingImageArgs:
    image = settings.serving.image
    return ServingImageArgs(
        repository_url=repository_url,
        registry_id=_map(repository_url, lambda url: url.split(".", 1)[0]),
        tag=release_tag(image.tag, git, allow_dirty=image.allow_dirty_tree),
        variants=image_variants(settings),
        context=IMAGE_CONTEXT,
    )


def mesh_args(settings: Settings, *, cluster_name, vpc_id, oidc_provider_arn, oidc_issuer) -> MeshArgs:
    mesh = settings.mesh
    return MeshArgs(
        cluster_name=cluster_name, region=settings.region, vpc_id=vpc_id,
        oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer,
        ingress_scheme=mesh.ingress_scheme, certificate_arn=mesh.certificate_arn, hosts=tuple(mesh.hosts),
        jwt_issuer=mesh.jwt_issuer, jwks_uri=mesh.jwks_uri, metrics_scraper=mesh.metrics_scraper,
        replicas=mesh.replicas,
    )


def routing_args(settings: Settings, *, gateway: str) -> CanaryRoutingArgs:
    has_canary = len(serving_tracks(settings)) == 2
    return CanaryRoutingArgs(
        namespace=SERVING_NAMESPACE, gateway=gateway, hosts=tuple(settings.mesh.hosts),
        canary_weight=settings.rollout.canary_weight, has_canary=has_canary,
        header_route=settings.rollout.canary_header_route, mirror_percent=settings.rollout.mirror_percent,
        # Past the servers' own request timeout, so a slow prediction gets the server's 504 (with its
        # JSON body and metrics), not Envoy's.
        timeout_s=max(getattr(settings.serving, track).server.request_timeout_s
                      for track in serving_tracks(settings) or ("stable",)) + ROUTE_TIMEOUT_MARGIN_S,
    )


@dataclass(frozen=True)
class StoreRefs:
    """What the model store exposes per track: the URI the server loads, the IAM ARN of its objects,
    and the bucket's ARN."""

    model_uris: dict[str, pulumi.Input[str]]
    read_arns: dict[str, pulumi.Input[str]]
    bucket_arn: pulumi.Input[str]


# MERGE: replaced by ModelStore outputs (model_uris, read_arns, bucket_arn) once the store lands.
def store_refs_from_layout(settings: Settings, stack: str, *, account_id: pulumi.Input[str], partition: str = "aws") -> StoreRefs:
    """The store's names computed from its layout (components/model_store_layout.py), for store
    references ("name/version") only; a local "./dir" model needs the store's upload."""
    bucket = _map(account_id, lambda account: bucket_name(stack, account, settings.region))
    bucket_arn = _map(bucket, lambda b: f"arn:{partition}:s3:::{b}")
    uris, arns = {}, {}
    for track in serving_tracks(settings):
        ref = getattr(settings.models, f"{track}_ref")
        if ref.is_local:
            raise ValueError(f"models.{track} = {ref.text!r}: a local model needs the model store (not built yet); "
                             "name a store version 'name/version'")
        uris[track] = _map(bucket, lambda b, r=ref: model_uri(b, r.name, r.version))
        arns[track] = _map(bucket_arn, lambda a, r=ref: prefix_arn(a, r.name, r.version))
    return StoreRefs(model_uris=uris, read_arns=arns, bucket_arn=bucket_arn)


def serving_args(settings: Settings, *, image_refs, store: StoreRefs, oidc_provider_arn, oidc_issuer) -> ServingArgs:
    pools = {pool.name: pool for pool in node_pool_args(settings)}
    tracks = []
    for track in serving_tracks(settings):
        run = getattr(settings.serving, track)
        ref = getattr(settings.models, f"{track}_ref")
        pod = TrackPodSpec(
            track=track, model_name=ref.name or Path(ref.local_path or "model").name, model_version=ref.version or "local",
            node_pool=pools[run.node_pool], gpus=run.gpus,
            requests=run.requests.model_dump(), limits=run.limits.model_dump(),
            server_env=run.server.env(), shutdown_grace_s=run.server.shutdown_grace_s,
        )
        tracks.append(TrackArgs(
            pod=pod, image=image_refs["gpu" if pools[run.node_pool].gpu else "cpu"],
            model_uri=store.model_uris[track], read_arn=store.read_arns[track],
            min_replicas=run.min_replicas, max_replicas=run.max_replicas, cpu_target_percent=run.cpu_target_percent,
        ))
    return ServingArgs(namespace=SERVING_NAMESPACE, tracks=tuple(tracks), bucket_arn=store.bucket_arn,
                       oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer)


def check_serving_rules(settings: Settings, *, git: GitState | None) -> None:
    """Build every serving Args with placeholders, so a rule only a component knows fails before
    anything is declared (called by `stack_args.check_component_rules`). Raises ValueError."""
    if settings.models is None:
        return
    image = image_args(settings, repository_url="123456789012.dkr.ecr.placeholder/x", git=git)
    if "eks" not in settings.targets:
        return
    mesh_args(settings, cluster_name="c", vpc_id="v", oidc_provider_arn="a", oidc_issuer="i")
    routing_args(settings, gateway="istio-ingress/g")
    store = store_refs_from_layout(settings, "placeholder", account_id="123456789012")
    serving_args(settings, image_refs={v: "r@sha256:0" for v in image.variants}, store=store,
                 oidc_provider_arn="a", oidc_issuer="i")
