"""Settings -> Args for serving on EKS: the image, the mesh, the canary routing and the workloads.

Pure translation, tested without Pulumi where the values are plain. Which versions serve comes
from `models`/`rollout` (shared with SageMaker); how they run on EKS from `serving`/`mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.canary_routing import CanaryRoutingArgs
from components.image import GitState, ServingImageArgs, release_tag
from components.mesh import MeshArgs
from components.model_store import ModelStoreArgs
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
    return () if settings.models is None else tuple(settings.models.served())


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
    """What the model store exposes per track (components/model_store.py): the URI the server loads,
    the IAM ARN of its objects, its (name, version); and the bucket's ARN and key."""

    model_uris: dict[str, pulumi.Input[str]]
    read_arns: dict[str, pulumi.Input[str]]
    versions: dict[str, tuple[str, str]]
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


def store_refs(model_store) -> StoreRefs:
    """The ModelStore component's outputs, as the serving workloads take them."""
    return StoreRefs(model_uris=dict(model_store.model_uris), read_arns=dict(model_store.read_arns),
                     versions=dict(model_store.versions), bucket_arn=model_store.bucket_arn,
                     kms_key_arn=model_store.kms_key_arn)


def _placeholder_store(store: ModelStoreArgs) -> StoreRefs:
    """Plan-time stand-ins with the store's real versions, for the component-rule net."""
    tracks = store.tracks
    return StoreRefs(model_uris={t: "s3://b/models/m/v/" for t in tracks}, read_arns={t: "arn:aws:s3:::b/models/m/v/*" for t in tracks},
                     versions={t: (m.name, m.version) for t, m in tracks.items()}, bucket_arn="arn:aws:s3:::b",
                     kms_key_arn="arn:aws:kms:us-west-2:123456789012:key/k")


def serving_args(settings: Settings, *, image_refs, store: StoreRefs, oidc_provider_arn, oidc_issuer) -> ServingArgs:
    pools = {pool.name: pool for pool in node_pool_args(settings)}
    tracks = []
    for track in serving_tracks(settings):
        run = getattr(settings.serving, track)
        model_name, model_version = store.versions[track]
        pod = TrackPodSpec(
            track=track, model_name=model_name, model_version=model_version,
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
                       model_kms_key_arn=store.kms_key_arn, oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer)


def check_serving_rules(settings: Settings, *, git: GitState | None, store: ModelStoreArgs | None) -> None:
    """Build every serving Args with placeholders, so a rule only a component knows fails before
    anything is declared (called by `mlserve.stack_rules`; `store` is the model store's Args it
    built, None without `models`). Raises ValueError."""
    if settings.models is None or store is None:
        return
    image = image_args(settings, repository_url="123456789012.dkr.ecr.placeholder/x", git=git)
    if "eks" not in settings.targets:
        return
    mesh_args(settings, cluster_name="c", vpc_id="v", oidc_provider_arn="a", oidc_issuer="i")
    routing_args(settings, gateway="istio-ingress/g")
    serving_args(settings, image_refs={v: "r@sha256:0" for v in image.variants}, store=_placeholder_store(store),
                 oidc_provider_arn="a", oidc_issuer="i")
