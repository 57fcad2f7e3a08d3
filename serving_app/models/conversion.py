"""Load-time optimisation: scikit-learn model -> ONNX, served by ONNX Runtime if it checks equal.

Why: one scikit-learn `predict_proba` of a 50-tree forest costs ~2 ms whether it gets 1
or 64 rows (Python per tree, joblib dispatch); ONNX Runtime runs the same trees in C++ in
tens of microseconds, which is what lets one core serve thousands of requests a second.

The converted model is used only if, on a check sample, its labels equal the original's
exactly and its float outputs are within `outputs.RTOL`/`outputs.ATOL`. The sample is the
artifact's `sample.json` rows plus `SAMPLE_SIZE` rows drawn from a seeded normal
distribution centred on those rows (per-feature mean and spread; N(0, 1) when the artifact
ships no sample).

The conversion runs in a child process by default (`python -m serving_app.models.conversion`):
converting needs scikit-learn and skl2onnx imported, ~130 MB of resident memory that the
serving process would otherwise keep for its whole life. The child loads the estimator,
converts it and computes the original's outputs on the sample; the comparison happens in
the serving process, against the very session that will serve.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving_app.models.artifact import Artifact, read_artifact
from serving_app.models.base import ModelLoadError, ModelMetadata
from serving_app.models.sklearn_backend import load_estimator, output_methods, raw_outputs

SAMPLE_SIZE = 256
SAMPLE_SEED = 20240501
CHILD_TIMEOUT_S = 300.0
"""How long the conversion child may take before the estimator is served as it is."""


class ConversionFailed(Exception):
    """The estimator could not be converted (the reason is the message); serve it unconverted."""


@dataclass(frozen=True)
class OnnxCandidate:
    """A converted model and what it must reproduce."""

    onnx_model: bytes
    output_names: dict[str, str]  # metadata output name -> ONNX graph output name
    reference: dict[str, np.ndarray]  # the original estimator's raw outputs on the check sample


def check_sample(metadata: ModelMetadata, shipped_rows: np.ndarray | None, *, size: int = SAMPLE_SIZE) -> np.ndarray:
    """The rows a conversion is checked on: the shipped rows, then `size` seeded random rows around them."""
    n_features = metadata.n_features
    center, spread = np.zeros(n_features), np.ones(n_features)
    if shipped_rows is not None and len(shipped_rows) >= 1:
        center = shipped_rows.astype(np.float64).mean(axis=0)
        if len(shipped_rows) >= 2:
            spread = shipped_rows.astype(np.float64).std(axis=0)
            spread[spread == 0] = 1.0
    drawn = np.random.default_rng(SAMPLE_SEED).normal(center, spread, size=(size, n_features))
    parts = [drawn] if shipped_rows is None else [shipped_rows, drawn]
    return np.concatenate(parts).astype(metadata.input_dtype)


def convert_estimator(estimator: object, n_features: int, input_dtype: str) -> tuple[bytes, dict[str, str]]:
    """Serialized ONNX for `estimator`, and {estimator method: graph output name}.

    Classifiers are converted without ZipMap (probabilities as a plain (n, n_classes) tensor,
    not a list of dicts).
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.base import is_classifier

    tensor_type = FloatTensorType if input_dtype == "float32" else DoubleTensorType
    classifier = is_classifier(estimator)
    onnx_model = to_onnx(
        estimator,
        initial_types=[("input", tensor_type([None, n_features]))],
        options={"zipmap": False} if classifier else None,
    )
    graph_outputs = [output.name for output in onnx_model.graph.output]
    # skl2onnx's output order: a classifier gives (label, probabilities), a regressor (variable).
    methods = ["predict", "predict_proba"] if classifier else ["predict"]
    return onnx_model.SerializeToString(), dict(zip(methods, graph_outputs, strict=False))


def prepare_candidate(artifact: Artifact, sample: np.ndarray) -> OnnxCandidate:
    """Load the estimator, convert it and run the original on `sample` (in this process)."""
    where = str(artifact.model_path)
    methods = output_methods(artifact.metadata.outputs, where=where)
    estimator = load_estimator(artifact.model_path)
    try:
        reference = raw_outputs(estimator, sample, methods)
    except Exception as exc:
        raise ConversionFailed(f"the original model fails on the check sample: {type(exc).__name__}: {exc}") from exc
    try:
        onnx_model, graph_outputs = convert_estimator(
            estimator, artifact.metadata.n_features, artifact.metadata.input_dtype
        )
    except Exception as exc:  # skl2onnx raises many types for "cannot convert this"
        raise ConversionFailed(
            f"skl2onnx cannot convert {type(estimator).__name__}: {type(exc).__name__}: {exc}"
        ) from exc
    missing = sorted({method for method in methods.values() if method not in graph_outputs})
    if missing:
        raise ConversionFailed(f"the converted graph has no output for {missing}")
    output_names = {name: graph_outputs[method] for name, method in methods.items()}
    return OnnxCandidate(onnx_model=onnx_model, output_names=output_names, reference=reference)


def prepare_candidate_in_subprocess(
    artifact: Artifact, sample: np.ndarray, *, timeout_s: float = CHILD_TIMEOUT_S
) -> OnnxCandidate:
    """`prepare_candidate` in a child process, so this process never imports scikit-learn for it."""
    with tempfile.TemporaryDirectory(prefix="mlserve-convert-") as work:
        work_dir = Path(work)
        np.save(work_dir / "sample.npy", sample)
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "serving_app.models.conversion", str(artifact.directory), str(work_dir)]
        try:
            completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ConversionFailed(f"the conversion took over {timeout_s:.0f} s") from None
        error_file = work_dir / "error.json"
        if error_file.exists():
            error = json.loads(error_file.read_text())
            if error["kind"] == "load":
                raise ModelLoadError(error["what"], error["where"], error["detail"])
            raise ConversionFailed(error["reason"])
        if completed.returncode != 0:
            raise ConversionFailed(
                f"the conversion process exited with {completed.returncode}: {completed.stderr[-2000:].strip()}"
            )
        with np.load(work_dir / "reference.npz", allow_pickle=False) as reference:
            reference_arrays = {name: reference[name] for name in reference.files}
        return OnnxCandidate(
            onnx_model=(work_dir / "model.onnx").read_bytes(),
            output_names=json.loads((work_dir / "output_names.json").read_text()),
            reference=reference_arrays,
        )


def _child_main(artifact_dir: str, work_dir: str) -> int:
    work = Path(work_dir)
    try:
        artifact = read_artifact(Path(artifact_dir))
        sample = np.load(work / "sample.npy", allow_pickle=False)
        candidate = prepare_candidate(artifact, sample)
    except ModelLoadError as exc:
        (work / "error.json").write_text(
            json.dumps({"kind": "load", "what": exc.what, "where": exc.where, "detail": exc.detail})
        )
        return 0
    except ConversionFailed as exc:
        (work / "error.json").write_text(json.dumps({"kind": "conversion", "reason": str(exc)}))
        return 0
    # String labels come back as object arrays; saved as fixed-width unicode so loading needs no pickle.
    reference = {
        name: (value.astype(str) if value.dtype == object else value) for name, value in candidate.reference.items()
    }
    np.savez(work / "reference.npz", **reference)
    (work / "output_names.json").write_text(json.dumps(candidate.output_names))
    (work / "model.onnx").write_bytes(candidate.onnx_model)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(*sys.argv[1:3]))
