"""Settings -> `ServingImageArgs`: the serving image, its tag from git, its CPU/GPU variants."""

from __future__ import annotations

import pulumi

from components.image import GitState, ServingImageArgs, release_tag
from mlserve.stack.args.serving import serving_tracks
from mlserve.stack.settings import Settings

IMAGE_CONTEXT = "serving_app"


def _map(value, function):
    """`function(value)` for a plain string (plan-time checks run outside any Pulumi run, with no
    event loop for Outputs); an Output applying it otherwise."""
    return function(value) if isinstance(value, str) else pulumi.Output.from_input(value).apply(function)


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
