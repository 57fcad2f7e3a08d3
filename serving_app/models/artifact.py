"""The model artifact: a directory holding one model file, `metadata.json` and the files it lists.

Layout::

    model-dir/
      model.joblib | model.onnx   the model; which one is fixed by `framework`
      metadata.json               what the model is, takes and returns, and the checksum of every file
      sample.json                 optional: real input rows, and the model's own answers on them
      converted.onnx              optional (scikit-learn): the model as an ONNX graph, verified by `package`
      converted-check.json        its check: rows and the model's own answers on them

`metadata.json` (unknown keys are rejected, so a misspelt key fails loudly)::

    {
      "format_version": 2,                       # 1 (no "files") is still read
      "name": "demo-rf",                         # the model name the server publishes
      "version": "1",                            # a string, e.g. "1" or "2024-05-01"
      "framework": "sklearn",                    # "sklearn" -> model.joblib, "onnx" -> model.onnx
      "sha256": "<64 hex digits>",               # of the model file
      "files": {"sample.json": "<sha256>", ...}, # every other file of the artifact, by name
      "input": {
        "n_features": 20,
        "feature_names": ["feature_00", ...],    # optional; default f0..f{n-1}; length n_features
        "dtype": "float64"                       # "float32" or "float64": the dtype predict() takes
      },
      "outputs": [                               # outputs[0] is the primary one
        {"name": "label", "datatype": "INT64", "shape": []},
        {"name": "probabilities", "datatype": "FP32", "shape": [3]}
      ],
      "check": {...},                            # optional: what `package` compared (CheckRecord)
      "conversion": {...}                        # optional: the stored ONNX graph, or why there is none
    }

`datatype` is an Open Inference Protocol V2 datatype (BYTES for string labels); `shape`
is per row, without the batch dimension. For `framework: sklearn` the output names say
which estimator method fills them: `label` and `prediction` come from `predict`,
`probabilities` from `predict_proba`. For `framework: onnx` they are the ONNX graph's
output names.

`sample.json`: ``{"rows": [[...n_features numbers...], ...]}``, the rows as the user gave
them (not rounded to `input.dtype`). The load-time check of an ONNX conversion runs on these
rows too, and the server's tests and benchmark use them.

Every file but `metadata.json` itself is covered by a sha256 (`sha256` for the model file,
`files` for the rest); in format 2 a `sample.json` or conversion file that `files` does not
list is refused. The checksums guard against a truncated, flipped or swapped file, not
against a malicious one: a joblib file runs code when loaded, so only load artifacts you trust.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from serving_app.models.base import PACKAGE_HINT, ModelLoadError, ModelMetadata, OutputSpec

METADATA_FILE = "metadata.json"
SAMPLE_FILE = "sample.json"
CONVERTED_GRAPH_FILE = "converted.onnx"
CONVERTED_CHECK_FILE = "converted-check.json"
FORMAT_VERSION = 2

MODEL_FILES = {"sklearn": "model.joblib", "onnx": "model.onnx"}
"""The model file each framework's artifact holds."""

V2_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"}
)
"""Open Inference Protocol V2 tensor datatypes (https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/)."""

_SHA256 = r"^[0-9a-f]{64}$"
_FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # a plain file name in the artifact directory, no path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSchema(_Strict):
    """What one request row is."""

    n_features: int = Field(gt=0, description="Number of features per row.")
    feature_names: tuple[str, ...] | None = Field(default=None, description="One name per feature; default f0..f{n-1}.")
    dtype: Literal["float32", "float64"] = Field(description="The numpy dtype predict() takes.")

    @model_validator(mode="after")
    def _names_match_count(self) -> InputSchema:
        if self.feature_names is not None:
            if len(self.feature_names) != self.n_features:
                raise ValueError(f"feature_names has {len(self.feature_names)} names but n_features is {self.n_features}")
            repeated = sorted({name for name in self.feature_names if self.feature_names.count(name) > 1})
            if repeated:
                raise ValueError(f"feature_names repeat {repeated}: rows keyed by name need unique names")
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


class OutputCheck(_Strict):
    """How one output of the served model compared with the model's own answers."""

    rows_differing: int = Field(ge=0, description="Rows where it differs (labels) or is outside the tolerance (numbers).")
    max_abs_diff: float | None = Field(default=None, description="Largest |served - model| of a numeric output.")


class CheckRecord(_Strict):
    """What `package` compared: the served answers against the model's own answers on the
    sample rows as given (`reference_dtype`, before any narrowing to `input.dtype`)."""

    rows: int = Field(gt=0, description="Sample rows compared.")
    reference_dtype: Literal["float32", "float64"] = Field(description="The dtype the model's own answers were computed at.")
    rtol: float = Field(ge=0, description="Numbers agree when |served - model| <= atol + rtol * |model|.")
    atol: float = Field(ge=0)
    labels: Literal["equal"] = Field(default="equal", description="Non-numeric outputs must be equal.")
    outputs: dict[str, OutputCheck]


class ConversionRecord(_Strict):
    """The ONNX graph `package` made of a scikit-learn model and verified, or why there is none.

    With `graph`, the server serves that graph with ONNX Runtime after re-running `check`
    (rows and the model's own answers on them) in its own runtime. With `failed`, it serves
    the estimator itself without trying again. Without this record (format 1, or an artifact
    written by hand) the server converts at load time."""

    converter: str = Field(min_length=1, description='What converted (or tried to), e.g. "skl2onnx 1.20.0".')
    graph: str | None = Field(default=None, pattern=_FILE_NAME, description="The ONNX file, listed in `files`.")
    check: str | None = Field(default=None, pattern=_FILE_NAME, description="Its check file, listed in `files`.")
    outputs: dict[str, str] | None = Field(default=None, description="Metadata output name -> graph output name.")
    graph_input: Literal["float32", "float64"] | None = Field(
        default=None, description="The graph's own input type; float32 behind a Cast when the estimator rounds to float32 itself.")
    verified_with: str | None = Field(default=None, description='The runtime the check passed in, e.g. "onnxruntime 1.32.0".')
    rtol: float | None = Field(default=None, ge=0)
    atol: float | None = Field(default=None, ge=0)
    failed: str | None = Field(default=None, min_length=1, description="Why there is no graph.")

    @model_validator(mode="after")
    def _graph_or_failure(self) -> ConversionRecord:
        parts = (self.graph, self.check, self.outputs)
        if self.failed is None and any(part is None for part in parts):
            raise ValueError("a conversion names its graph, check and outputs, or says why it failed")
        if self.failed is not None and any(part is not None for part in parts):
            raise ValueError("a failed conversion names no graph, check or outputs")
        return self


class ArtifactMetadata(_Strict):
    """The validated content of `metadata.json` (see the module docstring)."""

    format_version: Literal[1, 2] = FORMAT_VERSION
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    framework: str = Field(min_length=1, description="sklearn or onnx; checked against MODEL_FILES after parsing.")
    sha256: str = Field(pattern=_SHA256, description="Lower-case hex sha256 of the model file.")
    files: dict[str, str] = Field(default_factory=dict, description="Every other file of the artifact -> its sha256.")
    input: InputSchema
    outputs: tuple[OutputSchema, ...] = Field(min_length=1)
    check: CheckRecord | None = None
    conversion: ConversionRecord | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ArtifactMetadata:
        names = [output.name for output in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError(f"output names repeat: {names}")
        if self.format_version == 1 and (self.files or self.check or self.conversion):
            raise ValueError("files, check and conversion need format_version 2")
        for name, digest in self.files.items():
            if not re.fullmatch(_FILE_NAME, name) or name == METADATA_FILE or name in MODEL_FILES.values():
                raise ValueError(f"files: {name!r} is not another file of the artifact")
            if not re.fullmatch(_SHA256, digest):
                raise ValueError(f"files.{name}: {digest!r} is not a lower-case hex sha256")
        if self.conversion is not None and self.conversion.failed is None:
            unlisted = [f for f in (self.conversion.graph, self.conversion.check) if f not in self.files]
            if unlisted:
                raise ValueError(f"conversion: {unlisted} not covered by files")
            unknown = sorted(set(self.conversion.outputs or {}) - set(names))
            if unknown:
                raise ValueError(f"conversion.outputs: {unknown} are not outputs")
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
    """An artifact directory whose metadata, files and checksums have been checked."""

    directory: Path
    metadata: ModelMetadata
    model_path: Path
    sample_rows: np.ndarray | None  # (n, n_features) in metadata.input_dtype, from sample.json
    conversion: ConversionRecord | None = None
    files: tuple[str, ...] = ()  # the other files, all checked against their sha256


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
        raise ModelLoadError("metadata file missing", where, f"not an artifact directory: {PACKAGE_HINT}") from None
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


def read_rows(path: Path, dtype: str, n_features: int, *, what: str = "bad sample file") -> np.ndarray:
    """`{"rows": [[numbers]]}` from a JSON file as an (n, n_features) array of `dtype`."""
    where = str(path)
    try:
        rows = np.asarray(json.loads(path.read_text(encoding="utf-8"))["rows"], dtype=dtype)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(what, where, f"expected {{'rows': [[numbers]]}}: {exc}") from exc
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise ModelLoadError(what, where, f"rows have shape {rows.shape}, expected (n, {n_features})")
    return rows


def _check_file(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelLoadError("artifact file missing", str(path), "metadata.json lists it in files")
    actual = file_sha256(path)
    if actual != expected:
        raise ModelLoadError("checksum mismatch", str(path), f"metadata says {expected}, file has {actual}")


def read_artifact(directory: Path) -> Artifact:
    """Check an artifact directory: metadata valid, framework known, model file present, every
    checksum equal (the model file's and those of `files`), no uncovered file in format 2.

    Does not load the model; that is the backend's job.
    """
    if not directory.is_dir():
        raise ModelLoadError("model directory missing", str(directory))
    document = parse_metadata(directory / METADATA_FILE)
    metadata = document.to_model_metadata()
    model_path = directory / MODEL_FILES[metadata.framework]
    if not model_path.is_file():
        raise ModelLoadError(
            "model file missing", str(model_path), f"framework {metadata.framework} expects {model_path.name}"
        )
    _check_file(model_path, metadata.sha256)
    for name, digest in document.files.items():
        _check_file(directory / name, digest)
    if document.format_version >= 2:
        for name in (SAMPLE_FILE, CONVERTED_GRAPH_FILE, CONVERTED_CHECK_FILE):
            if (directory / name).exists() and name not in document.files:
                raise ModelLoadError("file not covered by a checksum", str(directory / name),
                                     "metadata.json's files does not list it; package the model again")
    sample_path = directory / SAMPLE_FILE
    sample_rows = read_rows(sample_path, metadata.input_dtype, metadata.n_features) if sample_path.exists() else None
    return Artifact(directory=directory, metadata=metadata, model_path=model_path, sample_rows=sample_rows,
                    conversion=document.conversion, files=tuple(document.files))


def write_metadata(
    directory: Path,
    *,
    name: str,
    version: str,
    framework: str,
    feature_names: list[str] | tuple[str, ...],
    input_dtype: str,
    outputs: list[OutputSpec] | tuple[OutputSpec, ...],
    check: CheckRecord | None = None,
    conversion: ConversionRecord | None = None,
) -> ArtifactMetadata:
    """Write `metadata.json` last, after the model file and every other file are in `directory`:
    it records the sha256 of the model file, of `sample.json` if present, and of the
    conversion's graph and check.

    The document is validated before it is written, so a builder cannot produce an
    artifact the loader would reject.
    """
    model_path = directory / MODEL_FILES[framework]
    covered: Iterable[str] = [SAMPLE_FILE] if (directory / SAMPLE_FILE).is_file() else []
    if conversion is not None and conversion.failed is None:
        covered = [*covered, conversion.graph, conversion.check]
    metadata = ArtifactMetadata(
        name=name,
        version=version,
        framework=framework,
        sha256=file_sha256(model_path),
        files={file: file_sha256(directory / file) for file in covered},
        input=InputSchema(n_features=len(feature_names), feature_names=tuple(feature_names), dtype=input_dtype),
        outputs=tuple(OutputSchema(name=o.name, datatype=o.datatype, shape=tuple(o.shape)) for o in outputs),
        check=check,
        conversion=conversion,
    )
    (directory / METADATA_FILE).write_text(
        metadata.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8"
    )
    return metadata


def write_sample(directory: Path, rows: np.ndarray) -> None:
    """Write `sample.json`; the values read back bit-identical in the dtype they were given in."""
    (directory / SAMPLE_FILE).write_text(json.dumps({"rows": np.asarray(rows).tolist()}) + "\n", encoding="utf-8")
