"""Editing an artifact on purpose in a test, then making its checksums match again, as a
builder that wrote those bytes would have."""

from __future__ import annotations

import json
from pathlib import Path

from serving_app.models.artifact import MODEL_FILES, file_sha256


def reseal(directory: Path) -> None:
    """Recompute every checksum in metadata.json after a test changed a file on purpose."""
    path = directory / "metadata.json"
    document = json.loads(path.read_text())
    document["sha256"] = file_sha256(directory / MODEL_FILES[document["framework"]])
    document["files"] = {name: file_sha256(directory / name) for name in document.get("files", {})}
    path.write_text(json.dumps(document))
