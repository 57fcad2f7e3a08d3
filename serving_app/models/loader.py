"""`load_model`: source -> checked artifact -> the fastest backend that reproduces it -> ready `Model`."""

from __future__ import annotations

import logging
import time

import numpy as np

from serving_app.models.artifact import Artifact, read_artifact
from serving_app.models.base import Model, ModelLoadError
from serving_app.models.outputs import OutputMismatch
from serving_app.models.sources import resolve_source

logger = logging.getLogger(__name__)


def load_model(
    source: str,
    *,
    cache_dir: str | None = None,
    optimize: bool = True,
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    use_gpu: bool = True,
    isolate_conversion: bool = True,
) -> Model:
    """Load the artifact at `source` and return a model that has already predicted once.

    Args:
        source: a local artifact directory, a directory holding only `model.tar.gz`
            (`/opt/ml/model`), a local `.tar.gz`, `s3://bucket/prefix` or `s3://bucket/key.tar.gz`.
        cache_dir: where downloads and unpacked archives go (a fresh subdirectory per load);
            default a new temporary directory. Unused for a local directory.
        optimize: serve a scikit-learn model with ONNX Runtime when a graph reproduces it:
            the graph `package` stored in the artifact (`converted.py`), or, for an artifact
            without a conversion record, one converted now (`conversion.py`); default True.
            No effect on an ONNX artifact.
        intra_op_threads, inter_op_threads: ONNX Runtime threads; default 1 each, for one
            server process per core.
        use_gpu: use CUDA when this onnxruntime build offers it; default True.
        isolate_conversion: convert at load time in a child process so this one never imports
            scikit-learn unless it must serve with it (~130 MB less resident memory);
            default True. False converts in-process (faster in tests).

    Raises:
        ModelLoadError: naming what is wrong and where, for every way an artifact can be bad.
    """
    resolved = resolve_source(source, cache_dir=cache_dir)
    try:
        return _load_directory(
            read_artifact(resolved.directory),
            optimize=optimize,
            onnx_settings={
                "intra_op_threads": intra_op_threads,
                "inter_op_threads": inter_op_threads,
                "use_gpu": use_gpu,
            },
            isolate_conversion=isolate_conversion,
        )
    except ModelLoadError as exc:
        if resolved.origin is None:
            raise
        # `where` is a path in the unpacked copy; say what it was unpacked from.
        raise ModelLoadError(
            exc.what, exc.where, "; ".join(filter(None, [exc.detail, f"from {resolved.origin}"]))
        ) from exc


def _load_directory(artifact: Artifact, *, optimize: bool, onnx_settings: dict, isolate_conversion: bool) -> Model:
    started = time.perf_counter()
    metadata = artifact.metadata
    where = str(artifact.model_path)
    if metadata.framework == "onnx":
        from serving_app.models.onnx_backend import OnnxModel, create_session

        session = create_session(artifact.model_path.read_bytes(), where=where, **onnx_settings)
        model: Model | None = OnnxModel(metadata, session, where=where)
        _warm_up(model, artifact, where)
    else:
        from serving_app.models.sklearn_backend import SklearnModel, load_estimator, output_methods

        output_methods(metadata.outputs, where=where)  # a bad output name fails before any slow work
        model, reason = None, "optimize=False"
        if optimize:
            # Either way the graph already ran on its whole check sample: no warm-up needed.
            record = artifact.conversion
            if record is None:
                model, reason = _try_converted(artifact, onnx_settings=onnx_settings, isolate=isolate_conversion)
            elif record.failed is not None:
                reason = f"package found no ONNX graph that reproduces it ({record.converter}): {record.failed}"
            else:
                from serving_app.models.converted import load_stored

                model, reason = load_stored(artifact, record, onnx_settings=onnx_settings)
            if model is None:
                logger.warning(
                    "model %s %s: serving with scikit-learn, not ONNX Runtime: %s",
                    metadata.name,
                    metadata.version,
                    reason,
                )
        if model is None:
            model = SklearnModel(metadata, load_estimator(artifact.model_path), where=where, fallback_reason=reason)
            _warm_up(model, artifact, where)
    elapsed = time.perf_counter() - started
    origin = getattr(model, "graph_origin", "")
    logger.info("model %s %s: %s%s, loaded in %.2f s", metadata.name, metadata.version, model.metadata.runtime,
                f" (graph: {origin})" if origin else "", elapsed)
    return model


def _try_converted(artifact: Artifact, *, onnx_settings: dict, isolate: bool) -> tuple[Model | None, str]:
    """(the converted model, "") if it reproduces the original on the check sample, else (None, why not)."""
    from serving_app.models import conversion

    metadata = artifact.metadata
    sample = conversion.check_sample(metadata.n_features, metadata.input_dtype, artifact.sample_rows)
    prepare = conversion.prepare_candidate_in_subprocess if isolate else conversion.prepare_candidate
    where = f"{artifact.model_path} (converted to ONNX)"
    try:
        candidate = prepare(artifact, sample)
        # Checked again here, against a session with this server's settings: the one that serves.
        model = conversion.verify_graph(candidate.onnx_model, candidate.output_names, metadata, sample,
                                        candidate.reference, where=where, onnx_settings=onnx_settings)
    except conversion.ConversionFailed as exc:
        return None, str(exc)
    return model, ""


def _warm_up(model: Model, artifact: Artifact, where: str) -> None:
    # One prediction before the model is declared ready: the first call's one-time costs
    # are paid here, and outputs that do not fit the metadata fail the load, not a request.
    rows = artifact.sample_rows if artifact.sample_rows is not None else np.zeros((1, artifact.metadata.n_features))
    try:
        model.predict(rows)
    except OutputMismatch as exc:
        raise ModelLoadError("model does not match metadata", where, str(exc)) from exc
    except Exception as exc:
        raise ModelLoadError("model fails to predict", where, f"{type(exc).__name__}: {exc}") from exc
