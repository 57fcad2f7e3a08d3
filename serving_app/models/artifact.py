"""The model artifact: a directory holding one model file, `metadata.json` and, optionally, `sample.json`.

Layout::

    model-dir/
      model.joblib | model.onnx   the model; which one is fixed by `framework`
      metadata.json               what the model is and what it takes and returns (below)
      sample.json                 optional: a few real input rows (below)

`metadata.json` (unknown keys are rejected, so a misspelt key fails loudly)::

    {
      "format_version": 1,                       # optional, only 1 exists
      "name": "demo-rf",                         # the model name the server publishes
      "version": "1",                            # a string, e.g. "1" or "2024-05-01"
      "framework": "sklearn",                    # "sklearn" -> model.joblib, "onnx" -> model.onnx
      "sha256": "<64 hex digits>",               # of the model file
      "input": {
        "n_features": 20,
        "feature_names": ["feature_00", ...],    # optional; default f0..f{n-1}; length n_features
        "dtype": "float32"                       # "float32" or "float64": the dtype predict() takes
      },
      "outputs": [                               # outputs[0] is the primary one (/predict returns it)
        {"name": "label", "datatype": "INT64", "shape": []},
        {"name": "probabilities", "datatype": "FP32", "shape": [3]}
      ]
    }

`datatype` is an Open Inference Protocol V2 datatype (BYTES for string labels); `shape`
is per row, without the batch dimension. For `framework: sklearn` the output names say
which estimator method fills them: `label` and `prediction` come from `predict`,
`probabilities` from `predict_proba`. For `framework: onnx` they are the ONNX graph's
output names.

`sample.json`: ``{"rows": [[...n_features floats...], ...]}``. The load-time check of an
ONNX conversion runs on these rows too, and the server's tests and benchmark use them.

The checksum guards against a truncated or swapped file, not against a malicious one:
a joblib file runs code when loaded, so only load artifacts you trust.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from serving_app.models.base import ModelLoadError, ModelMetadata, OutputSpec

METADATA_FILE = "metadata.json"
SAMPLE_FILE = "sample.json"

MODEL_FILES = {"sklearn": "model.joblib", "onnx": "model.onnx"}
"""The model file each framework's artifact holds."""

V2_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"}
)
"""Open Inference Protocol V2 tensor datatypes (https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSchema(_Strict):
    """What one request row is."""

    n_features: int = Field(gt=0, description="Number of features per row.")
    feature_names: tuple[str, ...] | None = Field(default=None, description="One name per feature; default f0..f{n-1}.")
    dtype: Literal["float32", "float64"] = Field(description="The numpy dtype predict() takes.")

    @model_validator(mode="after")
    def _names_match_count(self) -> InputSchema:
        if self.feature_names is not None and len(self.feature_names) != self.n_features:
            raise ValueError(f"feature_names has {len(self.feature_names)} names but n_features is {self.n_features}")
        return self


class OutputSchema(_Strict):
    """One named output tensor."""

    name: str = Field(min_length=1)
    datatype: str = Field(description="A V2 datatype, e.g. INT64, FP32, BYTES.")
    shape: tuple[int, ...] = Field(default=(), description="Per-row shape, without the batch dimension.")

    @model_validator(mode="after")
    def _known_datatype(self) -> OutputSchema:
        if self.datatype not in V2_DATATYPES:
            raise ValueError(f"datatype {self.datatype!r} is not a V2 datatype ({', '.join(sorted(V2_DATATYPES))})")
        if any(dim < 0 for dim in self.shape):
            raise ValueError(f"shape {list(self.shape)} has a negative dimension")
        return self


class ArtifactMetadata(_Strict):
    """The validated content of `metadata.json` (see the module docstring)."""

    format_version: Literal[1] = 1
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    framework: str = Field(min_length=1, description="sklearn or onnx; checked against MODEL_FILES after parsing.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Lower-case hex sha256 of the model file.")
    input: InputSchema
    outputs: tuple[OutputSchema, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_output_names(self) -> ArtifactMetadata:
        names = [output.name for output in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"output names repeat: {names}")
        return self

    def to_model_metadata(self) -> ModelMetadata:
        """The server-facing metadata (runtime is filled in once a backend is chosen)."""
        n_features = self.input.n_features
        return ModelMetadata(
            name=self.name,
            version=self.version,
            framework=self.framework,
            n_features=n_features,
            feature_names=self.input.feature_names or tuple(f"f{i}" for i in range(n_features)),
            input_dtype=self.input.dtype,
            outputs=tuple(OutputSpec(o.name, o.datatype, tuple(o.shape)) for o in self.outputs),
            sha256=self.sha256,
        )


@dataclass(frozen=True)
class Artifact:
    """An artifact directory whose metadata, model file and checksum have been checked."""

    directory: Path
    metadata: ModelMetadata
    model_path: Path
    sample_rows: np.ndarray | None  # (n, n_features) in metadata.input_dtype, from sample.json


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so a large model is not held twice in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe_validation_error(error: ValidationError) -> str:
    # "input.n_features: Input should be greater than 0" -- the field path first, so the
    # startup log says which key to fix.
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def parse_metadata(path: Path) -> ArtifactMetadata:
    """Read and validate `metadata.json`; a missing, unparsable or invalid file is a ModelLoadError."""
    where = str(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelLoadError("metadata file missing", where) from None
    except OSError as exc:
        raise ModelLoadError("metadata file unreadable", where, str(exc)) from exc
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelLoadError("bad metadata", where, f"not valid JSON: {exc}") from exc
    try:
        metadata = ArtifactMetadata.model_validate(document)
    except ValidationError as exc:
        raise ModelLoadError("bad metadata", where, _describe_validation_error(exc)) from exc
    if metadata.framework not in MODEL_FILES:
        known = ", ".join(sorted(MODEL_FILES))
        raise ModelLoadError("unknown framework", where, f"framework {metadata.framework!r}; known: {known}")
    return metadata


def _read_sample_rows(path: Path, metadata: ModelMetadata) -> np.ndarray | None:
    if not path.exists():
        return None
    where = str(path)
    try:
        rows = np.asarray(json.loads(path.read_text(encoding="utf-8"))["rows"], dtype=metadata.input_dtype)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError("bad sample file", where, f"expected {{'rows': [[numbers]]}}: {exc}") from exc
    if rows.ndim != 2 or rows.shape[1] != metadata.n_features:
        raise ModelLoadError(
            "bad sample file", where, f"rows have shape {rows.shape}, expected (n, {metadata.n_features})"
        )
    return rows


def read_artifact(directory: Path) -> Artifact:
    """Check an artifact directory: metadata valid, framework known, model file present, checksum equal.

    Does not load the model; that is the backend's job.
    """
    if not directory.is_dir():
        raise ModelLoadError("model directory missing", str(directory))
    metadata = parse_metadata(directory / METADATA_FILE).to_model_metadata()
    model_path = directory / MODEL_FILES[metadata.framework]
    if not model_path.is_file():
        raise ModelLoadError(
            "model file missing", str(model_path), f"framework {metadata.framework} expects {model_path.name}"
        )
    actual = file_sha256(model_path)
    if actual != metadata.sha256:
        raise ModelLoadError(
            "checksum mismatch", str(model_path), f"metadata says {metadata.sha256}, file has {actual}"
        )
    sample_rows = _read_sample_rows(directory / SAMPLE_FILE, metadata)
    return Artifact(directory=directory, metadata=metadata, model_path=model_path, sample_rows=sample_rows)


def write_metadata(
    directory: Path,
    *,
    name: str,
    version: str,
    framework: str,
    feature_names: list[str] | tuple[str, ...],
    input_dtype: str,
    outputs: list[OutputSpec] | tuple[OutputSpec, ...],
) -> ArtifactMetadata:
    """Write `metadata.json` next to the model file already in `directory`, with its sha256.

    The document is validated before it is written, so a builder cannot produce an
    artifact the loader would reject.
    """
    model_path = directory / MODEL_FILES[framework]
    metadata = ArtifactMetadata(
        name=name,
        version=version,
        framework=framework,
        sha256=file_sha256(model_path),
        input=InputSchema(n_features=len(feature_names), feature_names=tuple(feature_names), dtype=input_dtype),
        outputs=tuple(OutputSchema(name=o.name, datatype=o.datatype, shape=tuple(o.shape)) for o in outputs),
    )
    (directory / METADATA_FILE).write_text(metadata.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return metadata


def write_sample(directory: Path, rows: np.ndarray) -> None:
    """Write `sample.json`; float32 values are written so that they read back bit-identical."""
    (directory / SAMPLE_FILE).write_text(json.dumps({"rows": np.asarray(rows).tolist()}) + "\n", encoding="utf-8")
