"""scikit-learn model -> ONNX graph, kept only when it reproduces the model.

Why: one scikit-learn `predict_proba` of a 50-tree forest costs ~2 ms whether it gets 1
or 64 rows (Python per tree, joblib dispatch); ONNX Runtime runs the same trees in C++ in
tens of microseconds, which is what lets one core serve thousands of requests a second.

A graph is kept only if, on a check sample, its labels equal the model's exactly and its
float outputs are within `outputs.RTOL`/`outputs.ATOL`, at the artifact's input dtype. The
sample is the artifact's `sample.json` rows plus `SAMPLE_SIZE` rows drawn from a seeded normal
distribution centred on those rows (per-feature mean and spread; N(0, 1) when the artifact
ships no sample). Candidates, in order:

1. the graph at the input dtype (skl2onnx's `FloatTensorType` or `DoubleTensorType`);
2. for float64 input to an estimator that rounds its input to float32 itself (scikit-learn's
   trees, forests and gradient boosting: `sklearn/tree/_classes.py` validates X with
   `dtype=DTYPE`, float32), the float32 graph behind a Cast: the same arithmetic the
   estimator does, for the skl2onnx converters whose double graphs ONNX Runtime refuses.

`package` converts once and stores the graph with its check in the artifact (`converted.py`);
the server converts at load time only an artifact that has no such record. That conversion runs
in a child process by default (`python -m serving_app.models.conversion`): converting needs
scikit-learn and skl2onnx imported, ~130 MB of resident memory that the serving process would
otherwise keep for its whole life. The serving process re-checks the graph against the very
session that will serve.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving_app.models.artifact import Artifact, read_artifact
from serving_app.models.base import ModelLoadError, ModelMetadata, OutputSpec
from serving_app.models.outputs import OutputMismatch, compare_outputs, conform
from serving_app.models.sklearn_backend import check_feature_names, load_estimator, output_methods, raw_outputs

SAMPLE_SIZE = 256
SAMPLE_SEED = 20240501
CHILD_TIMEOUT_S = 300.0
"""How long the conversion child may take before the estimator is served as it is."""


class ConversionFailed(Exception):
    """No graph reproduces the estimator (the reason is the message); serve it unconverted."""


@dataclass(frozen=True)
class OnnxCandidate:
    """A converted model and what it must reproduce."""

    onnx_model: bytes
    output_names: dict[str, str]  # metadata output name -> ONNX graph output name
    reference: dict[str, np.ndarray]  # the original estimator's outputs on the check sample, conformed
    graph_input: str  # the graph's own input dtype ("float32" behind a Cast for float64 input)


def check_sample(
    n_features: int, input_dtype: str, shipped_rows: np.ndarray | None, *, size: int = SAMPLE_SIZE
) -> np.ndarray:
    """The rows a conversion is checked on: the shipped rows, then `size` seeded random rows around them."""
    center, spread = np.zeros(n_features), np.ones(n_features)
    if shipped_rows is not None and len(shipped_rows) >= 1:
        center = shipped_rows.astype(np.float64).mean(axis=0)
        if len(shipped_rows) >= 2:
            spread = shipped_rows.astype(np.float64).std(axis=0)
            spread[spread == 0] = 1.0
    drawn = np.random.default_rng(SAMPLE_SEED).normal(center, spread, size=(size, n_features))
    parts = [drawn] if shipped_rows is None else [shipped_rows, drawn]
    return np.concatenate(parts).astype(input_dtype)


def rounds_to_float32(estimator: object) -> bool:
    """True for estimators that cast their input to float32 before predicting (trees, forests,
    gradient boosting), so float32 arithmetic after a Cast is exactly what they compute.
    Not a Pipeline: a scaler in front computes in float64 first."""
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.tree import BaseDecisionTree

    return isinstance(estimator, (BaseForest, BaseGradientBoosting, BaseDecisionTree))


def convert_estimator(estimator: object, n_features: int, input_dtype: str) -> tuple[bytes, dict[str, str]]:
    """Serialized ONNX for `estimator` taking `input_dtype`, and {estimator method: graph output name}.

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


def behind_cast(graph: bytes) -> bytes:
    """A float32-input graph made to take float64 input through a Cast node in front."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(graph)
    [graph_input] = model.graph.input
    inner = "input_as_float32"
    for node in model.graph.node:
        node.input[:] = [inner if name == graph_input.name else name for name in node.input]
    model.graph.node.insert(0, helper.make_node("Cast", [graph_input.name], [inner], to=TensorProto.FLOAT, name="cast_input"))
    graph_input.type.tensor_type.elem_type = TensorProto.DOUBLE
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _candidates(estimator: object, n_features: int, input_dtype: str) -> Iterator[tuple[str, Callable[[], tuple[bytes, dict]]]]:
    yield input_dtype, lambda: convert_estimator(estimator, n_features, input_dtype)
    if input_dtype == "float64" and rounds_to_float32(estimator):
        def float32_behind_cast() -> tuple[bytes, dict]:
            graph, outputs = convert_estimator(estimator, n_features, "float32")
            return behind_cast(graph), outputs

        yield "float32", float32_behind_cast


def verify_graph(graph: bytes, output_names: dict[str, str], metadata: ModelMetadata, rows: np.ndarray,
                 expected: dict[str, np.ndarray], *, where: str, onnx_settings: dict | None = None):
    """The graph as a served `OnnxModel` if it reproduces `expected` on `rows`; else ConversionFailed."""
    from serving_app.models.onnx_backend import OnnxModel, create_session

    try:
        session = create_session(graph, where=where, **(onnx_settings or {"use_gpu": False}))
        model = OnnxModel(metadata, session, output_names, where=where)
        got = model.predict(rows)
    except ModelLoadError as exc:
        raise ConversionFailed(f"onnxruntime rejects the graph: {exc.detail}") from None
    except Exception as exc:  # noqa: BLE001 - the graph fails to run: serve the original
        raise ConversionFailed(f"the graph fails on the check rows: {type(exc).__name__}: {exc}") from None
    problems = compare_outputs(got, expected, metadata.outputs)
    if problems:
        raise ConversionFailed(f"the graph disagrees with the original on {len(rows)} check rows: " + "; ".join(problems))
    return model


def reference_outputs(estimator: object, rows: np.ndarray, outputs: tuple[OutputSpec, ...], *, where: str) -> dict[str, np.ndarray]:
    """The estimator's own outputs on `rows`, conformed to the declared outputs."""
    methods = output_methods(outputs, where=where)
    try:
        raw = raw_outputs(estimator, rows, methods)
    except Exception as exc:
        raise ConversionFailed(f"the original model fails on the check sample: {type(exc).__name__}: {exc}") from exc
    try:
        return {spec.name: conform(raw[spec.name], spec, len(rows)) for spec in outputs}
    except OutputMismatch as exc:
        raise ConversionFailed(str(exc)) from None


def convert_checked(estimator: object, metadata: ModelMetadata, rows: np.ndarray, *, where: str) -> OnnxCandidate:
    """The first candidate graph (module docstring) that reproduces `estimator` on `rows`, checked
    with a CPU session; ConversionFailed naming why each candidate was refused."""
    methods = output_methods(metadata.outputs, where=where)
    check_feature_names(estimator, metadata, where=where)
    reference = reference_outputs(estimator, rows, metadata.outputs, where=where)
    refused = []
    for graph_input, make in _candidates(estimator, metadata.n_features, metadata.input_dtype):
        label = f"{graph_input} graph" + (" behind a Cast" if graph_input != metadata.input_dtype else "")
        try:
            graph, graph_outputs = make()
        except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types for "cannot convert this"
            refused.append(f"{label}: skl2onnx cannot convert {type(estimator).__name__}: {type(exc).__name__}: {exc}")
            continue
        missing = sorted({method for method in methods.values() if method not in graph_outputs})
        if missing:
            refused.append(f"{label}: no output for {missing}")
            continue
        output_names = {name: graph_outputs[method] for name, method in methods.items()}
        try:
            verify_graph(graph, output_names, metadata, rows, reference, where=f"{where} (converted to ONNX)")
        except ConversionFailed as exc:
            refused.append(f"{label}: {exc}")
            continue
        return OnnxCandidate(graph, output_names, reference, graph_input)
    raise ConversionFailed("; ".join(refused))


def prepare_candidate(artifact: Artifact, sample: np.ndarray) -> OnnxCandidate:
    """Load the estimator and convert it, checked on `sample` (in this process)."""
    where = str(artifact.model_path)
    output_methods(artifact.metadata.outputs, where=where)
    estimator = load_estimator(artifact.model_path)
    return convert_checked(estimator, artifact.metadata, sample, where=where)


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
        info = json.loads((work_dir / "candidate.json").read_text())
        reference_arrays = {
            spec.name: conform(reference_arrays[spec.name], spec, len(sample)) for spec in artifact.metadata.outputs
        }
        return OnnxCandidate(
            onnx_model=(work_dir / "model.onnx").read_bytes(),
            output_names=info["output_names"],
            reference=reference_arrays,
            graph_input=info["graph_input"],
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
    # String labels are object arrays; saved as fixed-width unicode so loading needs no pickle.
    reference = {
        name: (value.astype(str) if value.dtype == object else value) for name, value in candidate.reference.items()
    }
    np.savez(work / "reference.npz", **reference)
    (work / "candidate.json").write_text(
        json.dumps({"output_names": candidate.output_names, "graph_input": candidate.graph_input})
    )
    (work / "model.onnx").write_bytes(candidate.onnx_model)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(*sys.argv[1:3]))
