"""Where an artifact comes from: a local directory, a `.tar.gz`, or S3. Each becomes a local directory.

- A local directory with `metadata.json` is used in place.
- A local directory without `metadata.json` but with `model.tar.gz` (e.g. `/opt/ml/model`
  when the archive was copied there rather than unpacked by SageMaker) is unpacked.
- A local `.tar.gz`/`.tgz` file is unpacked.
- `s3://bucket/key.tar.gz` is downloaded and unpacked; `s3://bucket/prefix` downloads every
  object under `prefix/` (the prefix names a "directory"), keeping relative paths.

Downloads and unpacked archives go to a fresh subdirectory of `cache_dir` (a new temporary
directory when None), so server processes sharing one `cache_dir` never overwrite each
other's files. Archives are unpacked with tarfile's "data" filter: no absolute paths, no
links or paths leading outside the target.
"""

from __future__ import annotations

import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from serving_app.models.artifact import METADATA_FILE
from serving_app.models.base import PACKAGE_HINT, ModelLoadError

ARCHIVE_NAME = "model.tar.gz"
"""The archive SageMaker's ModelDataUrl points to and unpacks into /opt/ml/model."""

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")

_S3_ERRORS = {
    "S3 object missing": {"404", "NoSuchKey", "NotFound"},
    "S3 bucket missing": {"NoSuchBucket"},
    "S3 access denied": {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    },
}


@dataclass(frozen=True)
class ResolvedSource:
    """The local artifact directory for a source, and what it was made from (None when used in place)."""

    directory: Path
    origin: str | None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key"); the key may be empty."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ModelLoadError("bad source", uri, "expected s3://bucket/prefix")
    return bucket, key


def s3_error_kind(code: str) -> str:
    """The `what` of a ModelLoadError for an S3 error code (from botocore's ClientError)."""
    for what, codes in _S3_ERRORS.items():
        if code in codes:
            return what
    return "S3 download failed"


def resolve_source(source: str, *, cache_dir: str | None = None) -> ResolvedSource:
    """The local directory holding the artifact named by `source` (see the module docstring)."""
    if source.startswith("s3://"):
        local, origin = download_s3(source, _scratch_dir(cache_dir)), source
    elif "://" in source:
        raise ModelLoadError("unsupported source", source, "use a local path or s3://bucket/prefix")
    else:
        local, origin = Path(source), None
    if not local.exists():
        raise ModelLoadError("model directory missing", str(local))
    if local.is_file():
        if not local.name.endswith(_ARCHIVE_SUFFIXES):
            raise ModelLoadError("not a model directory", str(local), f"expected an artifact directory or a .tar.gz "
                                 f"archive of one; {PACKAGE_HINT}")
        return ResolvedSource(unpack_archive(local, _scratch_dir(cache_dir)), origin or str(local))
    if not (local / METADATA_FILE).exists() and (local / ARCHIVE_NAME).is_file():
        return ResolvedSource(
            unpack_archive(local / ARCHIVE_NAME, _scratch_dir(cache_dir)), origin or str(local / ARCHIVE_NAME)
        )
    return ResolvedSource(local, origin)


def unpack_archive(archive: Path, into: Path) -> Path:
    """Unpack a .tar.gz into `into`; returns the artifact directory inside it.

    That is `into` itself, or its only subdirectory when the archive wraps the files in one
    folder and `metadata.json` is not at the top.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(into, filter="data")
    except tarfile.FilterError as exc:
        raise ModelLoadError("unsafe archive", str(archive), str(exc)) from exc
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ModelLoadError("corrupt archive", str(archive), str(exc)) from exc
    entries = list(into.iterdir())
    if not (into / METADATA_FILE).exists() and len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


def download_s3(uri: str, into: Path) -> Path:
    """Download `uri` into `into`: the archive file for a `.tar.gz` key, else the directory of the prefix's objects."""
    import boto3  # lazily: ~20 MB, only for S3 sources
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3_uri(uri)
    client = boto3.client("s3")
    try:
        if key.endswith(_ARCHIVE_SUFFIXES):
            archive = into / PurePosixPath(key).name
            client.download_file(bucket, key, str(archive))
            return archive
        _download_prefix(client, uri, bucket, key, into)
        return into
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise ModelLoadError(s3_error_kind(code), uri, f"{code}: {exc}") from exc
    except BotoCoreError as exc:  # no credentials, endpoint unreachable, ...
        raise ModelLoadError("S3 unreachable", uri, str(exc)) from exc


def _download_prefix(client, uri: str, bucket: str, key: str, into: Path) -> None:
    # "models/demo" must not also match "models/demo-old/...": list "models/demo/".
    prefix = key.rstrip("/") + "/" if key else ""
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")  # "folder" placeholder objects
    ]
    if not keys:
        raise ModelLoadError("S3 object missing", uri, "no objects under this prefix")
    if prefix + METADATA_FILE in keys:
        # The store keeps SageMaker's model.tar.gz beside the files (components/model_store_layout.py):
        # the same bytes again, so a prefix holding the files skips it.
        keys = [key for key in keys if key != prefix + ARCHIVE_NAME]
    for object_key in keys:
        parts = PurePosixPath(object_key[len(prefix) :]).parts
        if not parts or ".." in parts or parts[0] == "/":
            raise ModelLoadError(
                "unsafe S3 key", f"s3://{bucket}/{object_key}", "would be written outside the download directory"
            )
        target = into.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, object_key, str(target))


def _scratch_dir(cache_dir: str | None) -> Path:
    if cache_dir is None:
        return Path(tempfile.mkdtemp(prefix="mlserve-model-"))
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="model-", dir=cache_dir))
