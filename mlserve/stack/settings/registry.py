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
    keep_release_tags: int = Field(default=10, ge=1, le=1000)
    untagged_expiry_days: int = Field(default=3, ge=1, le=365)
    own_registry_scanning: bool = False
    """Whether this stack owns the account's (per region) ECR registry scanning configuration."""
