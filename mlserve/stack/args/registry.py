"""Settings -> `RegistryArgs`: the serving image's ECR repository."""

from __future__ import annotations

from components.registry import RegistryArgs
from mlserve.stack.args.naming import name_prefix
from mlserve.stack.settings import Settings
from mlserve.stack.settings.registry import REGISTRY_SCANNING_FILTER


def registry_args(settings: Settings, stack: str) -> RegistryArgs:
    return RegistryArgs(
        repository_name=f"{name_prefix(stack)}/serving-app",
        force_delete=settings.registry.force_delete,
        keep_release_tags=settings.registry.keep_release_tags,
        untagged_expiry_days=settings.registry.untagged_expiry_days,
        protect=settings.cluster.deletion_protection,
        registry_scanning_filter=REGISTRY_SCANNING_FILTER if settings.registry.own_registry_scanning else None,
    )
