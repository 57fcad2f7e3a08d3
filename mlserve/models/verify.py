"""`show --verify`, `list --verify`: the bytes a version holds in the store against its checksums.

Every object under `models/<name>/<version>/` is read back and hashed: the model file against
`metadata.json`'s `sha256`, every other file against its `files` entry, and `model.tar.gz`
(SageMaker's copy) member by member against the same checksums, its `metadata.json` against the
stored one. An object no checksum covers, a file the metadata lists but the store lacks, or an
archive holding other files is a failure too. Reads stream in 1 MiB chunks: a large model is
never held in memory.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import zlib
from dataclasses import dataclass

from components.model_store_layout import SAGEMAKER_ARCHIVE, version_prefix
from serving_app.models.artifact import METADATA_FILE, MODEL_FILES

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Verified:
    """One version's verification: the files that matched, and (file, problem) for the others."""

    name: str
    version: str
    matched: tuple[str, ...]
    problems: tuple[tuple[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: 'fraud-model/3: model.joblib: sha256 ... (and 1 more)'."""
        if self.ok:
            return f"{self.name}/{self.version}: {len(self.matched)} files match their checksums"
        (file, problem), *rest = self.problems
        more = f" (and {len(rest)} more: {', '.join(f for f, _ in rest)})" if rest else ""
        return f"{self.name}/{self.version}: {file}: {problem}{more}"


class _Reader:
    """Adapts a botocore StreamingBody to the read() tarfile's stream mode wants."""

    def __init__(self, body) -> None:
        self._body = body

    def read(self, size: int = -1) -> bytes:
        return self._body.read(size if size and size > 0 else None)


def _sha256(body) -> str:
    digest = hashlib.sha256()
    for chunk in body.iter_chunks(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def expected_checksums(metadata: dict) -> dict[str, str]:
    """{file name: sha256} of every file the version's metadata covers (metadata.json itself excluded)."""
    expected = {MODEL_FILES.get(metadata.get("framework"), "model file"): metadata.get("sha256", "")}
    expected.update(metadata.get("files") or {})
    return expected


def verify_version(s3, bucket: str, name: str, version: str, aws_call) -> Verified:
    """Read back every object of `name/version` and compare it with the checksums; `aws_call`
    turns botocore errors into the tool's (store._aws_call)."""
    prefix = version_prefix(name, version)
    metadata_bytes = aws_call(bucket, f"reading {prefix}{METADATA_FILE}",
                              lambda: s3.get_object(Bucket=bucket, Key=prefix + METADATA_FILE)["Body"].read())
    try:
        metadata = json.loads(metadata_bytes)
    except json.JSONDecodeError as exc:
        return Verified(name, version, (), ((METADATA_FILE, f"not valid JSON ({exc})"),))
    expected = expected_checksums(metadata)
    listing = aws_call(bucket, "listing", lambda: [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix) for item in page.get("Contents", [])])
    stored = {key[len(prefix):] for key in listing}
    matched: list[str] = []
    problems: list[tuple[str, str]] = []
    for file, want in expected.items():
        if file not in stored:
            problems.append((file, "listed in metadata.json but not in the store"))
            continue
        got = aws_call(bucket, f"reading {prefix}{file}",
                       lambda file=file: _sha256(s3.get_object(Bucket=bucket, Key=prefix + file)["Body"]))
        if got == want:
            matched.append(file)
        else:
            problems.append((file, f"the store holds sha256 {got}, metadata.json says {want}"))
    for file in sorted(stored - set(expected) - {METADATA_FILE, SAGEMAKER_ARCHIVE}):
        problems.append((file, "not covered by a checksum in metadata.json"))
    if SAGEMAKER_ARCHIVE in stored:
        archive_problems = aws_call(bucket, f"reading {prefix}{SAGEMAKER_ARCHIVE}", lambda: _archive_problems(
            s3.get_object(Bucket=bucket, Key=prefix + SAGEMAKER_ARCHIVE)["Body"], expected, metadata_bytes))
        problems += [(f"{SAGEMAKER_ARCHIVE}:{member}", problem) for member, problem in archive_problems]
        if not archive_problems:
            matched.append(SAGEMAKER_ARCHIVE)
    return Verified(name, version, tuple(matched), tuple(problems))


def _archive_problems(body, expected: dict[str, str], metadata_bytes: bytes) -> list[tuple[str, str]]:
    """SageMaker's model.tar.gz, streamed: each member against its checksum, none missing, none extra."""
    problems = []
    seen = set()
    try:
        with tarfile.open(fileobj=_Reader(body), mode="r|gz") as tar:
            for member in tar:
                seen.add(member.name)
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    problems.append((member.name, "not a regular file"))
                    continue
                digest = hashlib.sha256()
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)
                if member.name == METADATA_FILE:
                    if digest.hexdigest() != hashlib.sha256(metadata_bytes).hexdigest():
                        problems.append((member.name, "differs from the version's metadata.json"))
                elif member.name not in expected:
                    problems.append((member.name, "not covered by a checksum in metadata.json"))
                elif digest.hexdigest() != expected[member.name]:
                    problems.append((member.name, f"sha256 {digest.hexdigest()}, metadata.json says {expected[member.name]}"))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return [("", f"not a readable .tar.gz ({exc})")]
    problems += [(name, "missing from the archive") for name in sorted(set(expected) | {METADATA_FILE}) if name not in seen]
    return problems
