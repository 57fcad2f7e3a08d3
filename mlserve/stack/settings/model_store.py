"""The model store's settings (`modelStore`): how long replaced objects are kept, how access
is recorded, and whether `pulumi destroy` may empty the bucket (dev only).

The versions themselves are named in `models` (`mlserve/stack/settings/models.py`); the bucket, its
key and its policies are `components/model_store.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlserve.stack.settings.base import NAMESPACE, _Model

ACCESS_LOGGING_MODES = ("s3-access-logs", "cloudtrail")


class ModelStoreSettings(_Model):
    """The S3 bucket holding model versions (`models/<name>/<version>/`)."""

    noncurrent_version_expiry_days: int = Field(default=90, ge=1, le=3650)
    """Days an overwritten or deleted object version is kept before S3 expires it (recovery window)."""
    access_logging: Literal[ACCESS_LOGGING_MODES] = "s3-access-logs"  # type: ignore[valid-type]
    """`s3-access-logs`: S3 server access logs (best effort, free but the storage) or `cloudtrail`: a
    trail of the store's object-level data events with the caller's IAM identity ($0.10 per 100,000
    events). Both write to a log bucket of the stack's own."""
    log_retention_days: int = Field(default=365, ge=1, le=3650)
    """Days access logs or trail files are kept in the log bucket."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete the buckets with objects inside (dev only; never with
    `cluster.deletionProtection`)."""


def model_store_problems(store: ModelStoreSettings, *, deletion_protection: bool) -> list[str]:
    """Rules across `modelStore` and other sections, each naming the stack-file key."""
    if store.force_destroy and deletion_protection:
        return [f"{NAMESPACE}:modelStore.forceDestroy = true: contradicts cluster.deletionProtection = true "
                "(a protected stack keeps its model versions); set one of them to false"]
    return []
