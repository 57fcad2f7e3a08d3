"""The ONNX graph of a scikit-learn model, stored in its artifact: written by `package`, loaded by the server.

`package` converts the model once (`conversion.convert_checked`) and, when a graph reproduces
it on the check sample, writes `converted.onnx` and `converted-check.json` (the check rows and
the model's own answers on them) beside `model.joblib`; `metadata.json` records them under
`conversion`, with their sha256 in `files`. When no graph reproduces it, the record says why
and the server serves the estimator without trying again.

The server loads the stored graph directly (no scikit-learn, no skl2onnx, no child process:
what makes a new pod ready in a second) and re-runs the check in its own runtime before
serving it; a graph that no longer reproduces the stored answers (another ONNX Runtime build,
say) is not served: the estimator is, and the reason is logged.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from serving_app.models.artifact import (
    CONVERTED_CHECK_FILE,
    CONVERTED_GRAPH_FILE,
    Artifact,
    ConversionRecord,
    read_rows,
)
from serving_app.models.base import ModelLoadError, ModelMetadata, OutputSpec
from serving_app.models.outputs import ATOL, RTOL, OutputMismatch, conform


def _version_of(distribution: str) -> str:
    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return distribution


def store_conversion(directory: Path, estimator: object, *, feature_names: tuple[str, ...], input_dtype: str,
                     outputs: tuple[OutputSpec, ...], sample_rows: np.ndarray | None) -> ConversionRecord:
    """Convert `estimator`, check the graph, write it and its check into `directory`; the record
    for `metadata.json` (a failed one, naming why, when no graph reproduces the estimator).
    `sample_rows` are the artifact's sample rows, the start of the check sample."""
    from serving_app.models import conversion

    metadata = ModelMetadata(name=directory.name, version="-", framework="sklearn", n_features=len(feature_names),
                             feature_names=tuple(feature_names), input_dtype=input_dtype, outputs=tuple(outputs),
                             sha256="")
    if sample_rows is not None:
        sample_rows = np.asarray(sample_rows, dtype=input_dtype)
    rows = conversion.check_sample(metadata.n_features, metadata.input_dtype, sample_rows)
    try:
        candidate = conversion.convert_checked(estimator, metadata, rows, where=str(directory / "model.joblib"))
    except conversion.ConversionFailed as exc:
        return ConversionRecord(converter=_version_of("skl2onnx"), failed=str(exc))
    (directory / CONVERTED_GRAPH_FILE).write_bytes(candidate.onnx_model)
    expected = {name: np.asarray(value).tolist() for name, value in candidate.reference.items()}
    (directory / CONVERTED_CHECK_FILE).write_text(
        json.dumps({"rows": rows.tolist(), "outputs": expected}) + "\n", encoding="utf-8"
    )
    return ConversionRecord(
        converter=_version_of("skl2onnx"), graph=CONVERTED_GRAPH_FILE, check=CONVERTED_CHECK_FILE,
        outputs=candidate.output_names, graph_input=candidate.graph_input,
        verified_with=_version_of("onnxruntime"), rtol=RTOL, atol=ATOL,
    )


def load_stored(artifact: Artifact, record: ConversionRecord, *, onnx_settings: dict):
    """(the stored graph as a served model, "") if it reproduces its check here, else (None, why not).

    A check file that does not parse is a ModelLoadError: its checksum matched, so the
    artifact was written that way."""
    from serving_app.models.conversion import ConversionFailed, verify_graph

    metadata = artifact.metadata
    check_path = artifact.directory / record.check
    rows = read_rows(check_path, metadata.input_dtype, metadata.n_features, what="bad conversion check file")
    try:
        stored = json.loads(check_path.read_text(encoding="utf-8"))["outputs"]
        expected = {spec.name: conform(np.asarray(stored[spec.name]), spec, len(rows)) for spec in metadata.outputs}
    except (KeyError, TypeError, ValueError, OutputMismatch) as exc:
        raise ModelLoadError("bad conversion check file", str(check_path),
                             f"expected the answers of every output on its rows: {exc}") from exc
    graph_path = artifact.directory / record.graph
    try:
        model = verify_graph(graph_path.read_bytes(), record.outputs, metadata, rows, expected,
                             where=str(graph_path), onnx_settings=onnx_settings)
    except ConversionFailed as exc:
        return None, f"the stored ONNX graph does not reproduce its check in this runtime: {exc}"
    model.graph_origin = "the artifact's converted.onnx"
    return model, ""
