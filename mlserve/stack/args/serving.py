"""Settings -> Args for serving on EKS: the workloads per track and their canary routing.

Pure translation, tested without Pulumi where the values are plain. Which versions serve comes
from `models`/`rollout` (shared with SageMaker); how they run on EKS from `serving`/`mesh`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.canary_routing import CanaryRoutingArgs
from components.serving import ServingArgs, TrackArgs
from components.serving_contract import SERVING_NAMESPACE
from components.serving_pods import TrackPodSpec
from mlserve.stack.args.cluster import node_pool_args
from mlserve.stack.settings import Settings

ROUTE_TIMEOUT_MARGIN_S = 2


def serving_tracks(settings: Settings) -> tuple[str, ...]:
    """("stable",) or ("stable", "canary"); () when the stack serves no model."""
    return () if settings.models is None else tuple(settings.models.served())


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
            queued_requests_target=run.queued_requests_target,
        ))
    return ServingArgs(namespace=SERVING_NAMESPACE, tracks=tuple(tracks), bucket_arn=store.bucket_arn,
                       model_kms_key_arn=store.kms_key_arn, oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer,
                       rollout=settings.rollout.mode)
