"""The contract between model loading and the server.

The server (data plane, batching, protocols) only sees `Model` and `ModelMetadata`;
backends (scikit-learn, ONNX Runtime) and artifact sources (local path, /opt/ml/model,
s3://) live behind `serving_app.models.load_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


PACKAGE_HINT = ("a model file (.joblib, .pkl, .onnx, an MLflow directory) becomes one with `python -m mlserve.models "
                "package MODEL --name NAME --version V --sample rows.csv --out DIR`; serve DIR (docs/models.md)")
"""What a load error says when it was handed a model file or a plain directory instead of an artifact."""


class ModelLoadError(Exception):
    """The artifact could not be turned into a ready model.

    `what` says which problem (missing, corrupt, checksum mismatch, bad metadata, ...)
    and `where` the path or URI it concerns, so startup fails with an actionable message.
    """

    def __init__(self, what: str, where: str, detail: str = "") -> None:
        self.what = what
        self.where = where
        self.detail = detail
        super().__init__(f"{what}: {where}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True)
class OutputSpec:
    """One named output of the model, in Open Inference Protocol V2 terms.

    `datatype` is a V2 datatype (BOOL, INT64, FP32, FP64, BYTES, ...); `shape` excludes
    the batch dimension (e.g. () for one label per row, (3,) for 3 class probabilities).
    """

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelMetadata:
    """What the artifact's metadata file declares, after validation."""

    name: str
    version: str
    framework: str  # "sklearn" or "onnx": the artifact's own format
    n_features: int
    feature_names: tuple[str, ...]
    input_dtype: str  # numpy dtype name of the input rows: "float32" or "float64"
    outputs: tuple[OutputSpec, ...]  # outputs[0] is the primary one (what /predict returns)
    sha256: str
    runtime: str = ""  # what actually runs it, e.g. "onnxruntime[CPUExecutionProvider]" or "sklearn"

    @property
    def input_datatype(self) -> str:
        """The V2 datatype of the input tensor."""
        return {"float32": "FP32", "float64": "FP64"}[self.input_dtype]


class Model(Protocol):
    """A loaded, ready model. `predict` is called from one worker thread at a time."""

    metadata: ModelMetadata

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Rows of shape (n, n_features) in `metadata.input_dtype` to {output name: array},
        each array's first dimension n, in the order of `metadata.outputs`."""
        ...
