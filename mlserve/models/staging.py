"""What goes into the store for one version: the artifact's files and the `model.tar.gz` form.

Shared by `publish` (the CLI) and the stack's upload of a local artifact directory (dev), so
both put the same bytes under `models/<name>/<version>/`. The archive is deterministic (sorted
entries, zeroed times and owners, gzip without a timestamp): the same files always make the
same `model.tar.gz`, so a re-run of `pulumi up` sees no change and its sha256 is reproducible.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.model_store_layout import SAGEMAKER_ARCHIVE, local_version
from serving_app.models.artifact import METADATA_FILE, SAMPLE_FILE, file_sha256, read_artifact


@dataclass(frozen=True)
class StagedVersion:
    """One version's files, ready to upload: {key under the version prefix: local path}."""

    name: str
    version: str
    framework: str
    model_sha256: str
    files: dict[str, Path]
    """Relative key -> file, the archive included; `metadata.json` last (its presence marks a complete version)."""


def artifact_files(directory: Path) -> dict[str, Path]:
    """The files of a checked artifact that belong in the store: the model file, every file its
    metadata covers by a checksum (sample, stored ONNX graph and check), and the metadata.

    Anything else in the directory (notes, a stale archive) is left out."""
    artifact = read_artifact(directory)  # metadata valid, every file present, every checksum equal
    files = {artifact.model_path.name: artifact.model_path}
    for name in artifact.files:
        files[name] = directory / name
    if SAMPLE_FILE not in files and (directory / SAMPLE_FILE).is_file():  # format 1: no files map
        files[SAMPLE_FILE] = directory / SAMPLE_FILE
    files[METADATA_FILE] = directory / METADATA_FILE
    return files


def content_digest(files: dict[str, Path]) -> str:
    """sha256 over the sorted (name, sha256 of content) pairs: one value per set of files."""
    digest = hashlib.sha256()
    for key in sorted(files):
        digest.update(f"{key}\0{file_sha256(files[key])}\n".encode())
    return digest.hexdigest()


def write_archive(files: dict[str, Path], out: Path) -> None:
    """A deterministic `model.tar.gz` of `files` at the archive's top level (what SageMaker
    unpacks into /opt/ml/model), written to a temporary name and renamed into place."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for key in sorted(files):
                data = files[key].read_bytes()
                info = tarfile.TarInfo(key)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    _atomic_write(out, buffer.getvalue())


def stage_publish(directory: Path, scratch: Path) -> StagedVersion:
    """An artifact directory as published: its own name and version, plus the archive in `scratch`."""
    files = artifact_files(directory)
    metadata = json.loads(files[METADATA_FILE].read_text())
    archive = scratch / SAGEMAKER_ARCHIVE
    write_archive(files, archive)
    return _staged(metadata, files, archive)


def stage_local(directory: Path, staging_root: Path) -> StagedVersion:
    """A local artifact directory as the stack uploads it (dev): version `local-<digest>` of its
    files, written into `metadata.json` too, so the server reports the store version it serves.

    The result lives in `staging_root/<name>/<version>/`, created once by whichever process gets
    there first (a temporary directory renamed into place: parallel test workers never see a
    half-written one). The same files always give the same directory and bytes."""
    files = artifact_files(directory)
    version = local_version(content_digest(files))
    metadata = json.loads(files[METADATA_FILE].read_text())
    metadata["version"] = version
    target = staging_root / metadata["name"] / version
    if not (target / METADATA_FILE).is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            for key, path in files.items():
                if key != METADATA_FILE:
                    shutil.copyfile(path, scratch / key)
            (scratch / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
            read_artifact(scratch)  # the rewritten metadata still loads
            staged = {key: scratch / key for key in files}
            write_archive(staged, scratch / SAGEMAKER_ARCHIVE)
            try:
                os.rename(scratch, target)
            except OSError:  # another process staged it first: same content
                pass
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    staged_files = {key: target / key for key in files}
    return _staged(metadata, staged_files, target / SAGEMAKER_ARCHIVE)


def _staged(metadata: dict, files: dict[str, Path], archive: Path) -> StagedVersion:
    ordered = {key: path for key, path in files.items() if key != METADATA_FILE}
    ordered[SAGEMAKER_ARCHIVE] = archive
    ordered[METADATA_FILE] = files[METADATA_FILE]
    return StagedVersion(
        name=metadata["name"], version=metadata["version"], framework=metadata["framework"],
        model_sha256=metadata["sha256"], files=ordered,
    )


def _atomic_write(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}-", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


