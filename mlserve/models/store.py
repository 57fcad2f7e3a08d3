"""`publish`, `list`, `show`: model versions in the stack's store bucket, through boto3.

A version is `s3://<bucket>/models/<name>/<version>/`: the artifact's files, `model.tar.gz`
(SageMaker's form) and `metadata.json`, written last, so a version whose metadata.json exists
is complete. Every object is written with SSE-KMS (the bucket's policy denies anything else),
a SHA-256 checksum S3 verifies on receipt, `If-None-Match: *` (S3 refuses to overwrite an
existing key, even in a race), and who published it. After the upload each object's stored
checksum is read back and compared; on any failure the objects this run wrote are deleted.
Throttling is retried by botocore's "adaptive" mode.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from components.model_store_layout import MODELS_PREFIX, archive_uri, model_uri, version_prefix
from mlserve.models.package import check_ref
from mlserve.models.errors import AwsError, BadInput, ChecksumMismatch, NoCredentials, NoSuchBucket, NotFound, VersionExists
from mlserve.models.staging import stage_publish
from serving_app.models.artifact import METADATA_FILE
from serving_app.models.base import ModelLoadError

SINGLE_PUT_LIMIT = 5 * 1024**3
"""S3's largest single PUT; the tool uploads each file in one PUT so S3 checks its whole SHA-256."""


def client(region: str | None = None):
    """An S3 client retrying throttling ("adaptive": backoff plus client-side rate limiting)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", region_name=region, config=Config(retries={"mode": "adaptive", "max_attempts": 10}))


def _sha256_b64(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _caller(region: str | None) -> str:
    import boto3

    return boto3.client("sts", region_name=region).get_caller_identity()["Arn"]


def _aws_call(bucket: str, what: str, call, *, not_found: str | None = None):
    """Run `call()`, turning botocore's errors into the tool's (a missing key into NotFound(not_found))."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return call()
    except NoCredentialsError:
        raise NoCredentials("no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE") from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if not_found and code in ("NoSuchKey", "404"):
            raise NotFound(not_found) from None
        if code in ("NoSuchBucket",):
            raise NoSuchBucket(f"bucket {bucket!r} does not exist: deploy the stack first, or pass the bucket "
                               "`pulumi stack output model_bucket_name` prints") from None
        raise AwsError(f"{what} in s3://{bucket} failed: {code}: {exc.response.get('Error', {}).get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise AwsError(f"{what} in s3://{bucket} failed: {exc}") from None


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    model_uri: str
    archive_uri: str
    keys: tuple[str, ...]


def publish(directory: Path, *, bucket: str, kms_key_id: str | None = None, region: str | None = None,
            s3=None) -> Published:
    """Upload the artifact in `directory` as its own name/version (those in its metadata.json).
    A directory that is no valid artifact (bad metadata, checksum mismatch) is refused first."""
    s3 = s3 or client(region)
    with tempfile.TemporaryDirectory(prefix="mlserve-publish-") as scratch:
        try:
            staged = stage_publish(directory, Path(scratch))
        except ModelLoadError as exc:
            raise BadInput(f"{directory}: not an artifact the server loads ({exc}); make one with `package`") from None
        check_ref(staged.name, staged.version)  # the artifact's own name and version (metadata.json)
        prefix = version_prefix(staged.name, staged.version)
        existing = _aws_call(bucket, "listing", lambda: s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1))
        if existing.get("KeyCount", 0):
            raise VersionExists(f"{staged.name}/{staged.version} is already in s3://{bucket}/{prefix}: versions are "
                                "immutable; package the model as a new --version")
        key_id = kms_key_id or _bucket_key(s3, bucket)
        publisher = _aws_call(bucket, "identifying the caller", lambda: _caller(region))
        written: list[str] = []
        try:
            for relative, path in staged.files.items():
                if path.stat().st_size > SINGLE_PUT_LIMIT:
                    raise AwsError(f"{path}: over 5 GiB, the largest object this tool uploads in one PUT")
                key = prefix + relative
                checksum = _sha256_b64(path)
                with path.open("rb") as body:
                    _aws_call(bucket, f"uploading {key}", lambda: s3.put_object(
                        Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum, IfNoneMatch="*",
                        ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id, BucketKeyEnabled=True,
                        Metadata={"published-by": publisher, "model-sha256": staged.model_sha256},
                    ))
                written.append(key)
                stored = _aws_call(bucket, f"reading back {key}", lambda: s3.head_object(
                    Bucket=bucket, Key=key, ChecksumMode="ENABLED"))
                if stored.get("ChecksumSHA256") != checksum:
                    raise ChecksumMismatch(f"s3://{bucket}/{key}: the store holds SHA-256 {stored.get('ChecksumSHA256')}, "
                                           f"the file has {checksum}; the upload was removed, publish again")
        except BaseException:
            for key in written:
                try:
                    s3.delete_object(Bucket=bucket, Key=key)
                except Exception:  # best effort: the lifecycle expires what remains
                    pass
            raise
    return Published(staged.name, staged.version, model_uri(bucket, staged.name, staged.version),
                     archive_uri(bucket, staged.name, staged.version), tuple(written))


def _bucket_key(s3, bucket: str) -> str:
    """The bucket's default KMS key: publish names it explicitly, as the bucket policy requires."""
    config = _aws_call(bucket, "reading the encryption", lambda: s3.get_bucket_encryption(Bucket=bucket))
    for rule in config["ServerSideEncryptionConfiguration"]["Rules"]:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
            return default["KMSMasterKeyID"]
    raise AwsError(f"s3://{bucket} has no default SSE-KMS key: is it the stack's model store?")


@dataclass(frozen=True)
class VersionInfo:
    """One version as `list` and `show` print it."""

    name: str
    version: str
    framework: str
    sha256: str
    created: datetime
    published_by: str
    metadata: dict
    files: dict[str, int]  # key under the prefix -> size in bytes


def list_versions(*, bucket: str, name: str | None = None, region: str | None = None, s3=None) -> list[VersionInfo]:
    """Every complete version in the store (one with metadata.json), optionally of one model."""
    s3 = s3 or client(region)
    prefix = version_prefix(name, "")[:-1] if name else MODELS_PREFIX
    keys = []
    for page in _aws_call(bucket, "listing", lambda: list(s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix))):
        keys += [item["Key"] for item in page.get("Contents", [])]
    found = []
    for key in sorted(keys):
        parts = key.split("/")
        if len(parts) == 4 and parts[3] == METADATA_FILE:
            found.append(show(parts[1], parts[2], bucket=bucket, s3=s3))
    return sorted(found, key=lambda v: (v.name, v.created))


def verify(name: str, version: str, *, bucket: str, region: str | None = None, s3=None):
    """Read back every object of one version and check it against the checksums (`verify.py`)."""
    from mlserve.models.verify import verify_version

    s3 = s3 or client(region)
    return verify_version(s3, bucket, name, version, lambda bucket_, what, call: _aws_call(
        bucket_, what, call, not_found=f"{name}/{version} is not in s3://{bucket} (`list` shows what is)"))


def show(name: str, version: str, *, bucket: str, region: str | None = None, s3=None) -> VersionInfo:
    """One version's metadata, files, checksum, creation time and publisher."""
    s3 = s3 or client(region)
    key = version_prefix(name, version) + METADATA_FILE
    response = _aws_call(bucket, f"reading {key}", lambda: s3.get_object(Bucket=bucket, Key=key),
                         not_found=f"{name}/{version} is not in s3://{bucket} (`list` shows what is)")
    metadata = json.loads(response["Body"].read())
    listing = _aws_call(bucket, "listing", lambda: s3.list_objects_v2(Bucket=bucket, Prefix=version_prefix(name, version)))
    files = {item["Key"][len(version_prefix(name, version)):]: item["Size"] for item in listing.get("Contents", [])}
    return VersionInfo(name=name, version=version, framework=metadata.get("framework", "?"),
                       sha256=metadata.get("sha256", "?"), created=response["LastModified"],
                       published_by=response.get("Metadata", {}).get("published-by", "(the stack)"),
                       metadata=metadata, files=files)
