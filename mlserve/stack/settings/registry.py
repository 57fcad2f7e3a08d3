"""The ECR section of the settings (`mlserve:registry`)."""

from __future__ import annotations

from pydantic import Field

from mlserve.stack.settings.base import _Model

# The registry scanning filter of the stack that owns it: every stack's repository
# ("mlserve-<stack>/...") in the account and region.
REGISTRY_SCANNING_FILTER = "mlserve-*"


class RegistrySettings(_Model):
    """The ECR repository for the serving image."""

    force_delete: bool = False
    """Let `pulumi destroy` delete the repository with images inside (dev only; never with
    `cluster.deletionProtection`)."""
    keep_release_tags: int = Field(default=10, ge=1, le=1000)
    """Release images (tag prefix `v`) the lifecycle policy keeps."""
    untagged_expiry_days: int = Field(default=3, ge=1, le=365)
    """Days after which untagged images expire."""
    own_registry_scanning: bool = False
    """This stack owns the account's ECR registry scanning configuration (one per account and region):
    basic scan on push for every `mlserve-*` repository. Exactly one stack per account and region sets
    it (prod here); two would overwrite each other on every `up`."""
