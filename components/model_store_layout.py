"""Where model versions live in the stack's model store: the names the store, the serving
targets (EKS, SageMaker) and the `mlserve-models` tool must agree on, in one place.

A version is immutable and lives under one prefix:
  s3://<bucket>/models/<name>/<version>/            the artifact directory the server loads
  s3://<bucket>/models/<name>/<version>/model.tar.gz  the same files, as SageMaker's ModelDataUrl

The bucket's name carries the stack, the account and the region, so dev and prod (and two
accounts) never claim the same global S3 name.
"""

from __future__ import annotations

MODELS_PREFIX = "models/"
SAGEMAKER_ARCHIVE = "model.tar.gz"


def bucket_name(stack: str, account_id: str, region: str) -> str:
    """"mlserve-dev-models-123456789012-us-west-2" (S3 names: 3-63 chars, lower case)."""
    name = f"mlserve-{stack}-models-{account_id}-{region}"
    if len(name) > 63:
        raise ValueError(f"model store bucket name {name!r} is over S3's 63 characters; shorten the stack name")
    return name


def version_prefix(name: str, version: str) -> str:
    """"models/fraud-model/3/": the key prefix of one version (ends with '/')."""
    return f"{MODELS_PREFIX}{name}/{version}/"


def model_uri(bucket: str, name: str, version: str) -> str:
    """"s3://<bucket>/models/<name>/<version>/": what the server's `--model` reads."""
    return f"s3://{bucket}/{version_prefix(name, version)}"


def archive_uri(bucket: str, name: str, version: str) -> str:
    """"s3://<bucket>/models/<name>/<version>/model.tar.gz": SageMaker's ModelDataUrl."""
    return f"s3://{bucket}/{version_prefix(name, version)}{SAGEMAKER_ARCHIVE}"


def prefix_arn(bucket_arn: str, name: str, version: str) -> str:
    """"arn:aws:s3:::<bucket>/models/<name>/<version>/*": an IAM resource for one version's objects."""
    return f"{bucket_arn}/{version_prefix(name, version)}*"


LOCAL_VERSION_PREFIX = "local-"
"""Store versions the stack uploads from a local artifact directory (dev) start with this."""


def local_version(content_digest: str) -> str:
    """"local-3f2a9c1b7e04": the store version of a local artifact, from the sha256 of its files.

    Content-addressed, so a version stays immutable: other files make another version."""
    if len(content_digest) < 12 or any(c not in "0123456789abcdef" for c in content_digest):
        raise ValueError(f"content_digest {content_digest!r}: a lower-case hex sha256 expected")
    return f"{LOCAL_VERSION_PREFIX}{content_digest[:12]}"


def log_bucket_name(stack: str, account_id: str, region: str) -> str:
    """"mlserve-dev-models-logs-123456789012-us-west-2": the store's access-log bucket."""
    name = f"mlserve-{stack}-models-logs-{account_id}-{region}"
    if len(name) > 63:
        raise ValueError(f"model store log bucket name {name!r} is over S3's 63 characters; shorten the stack name")
    return name


def trail_name(stack: str) -> str:
    """"mlserve-dev-model-store": the CloudTrail trail recording the store's data events."""
    return f"mlserve-{stack}-model-store"


NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
"""A model name: lower-case letters, digits and '-' (it becomes a key prefix and a label)."""
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
"""A version: letters, digits, '.', '_', '-' ("3", "2026-05-01")."""
