"""`load_model`: source -> checked artifact -> the fastest backend that reproduces it -> ready `Model`."""

from __future__ import annotations

import logging
import time

import numpy as np

from serving_app.models.artifact import Artifact, read_artifact
from serving_app.models.base import Model, ModelLoadError
from serving_app.models.outputs import OutputMismatch, compare_outputs, conform
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
        optimize: convert a scikit-learn model to ONNX and serve it with ONNX Runtime when
            the conversion checks equal on a sample (see `conversion`); default True. No
            effect on an ONNX artifact.
        intra_op_threads, inter_op_threads: ONNX Runtime threads; default 1 each, for one
            server process per core.
        use_gpu: use CUDA when this onnxruntime build offers it; default True.
        isolate_conversion: convert in a child process so this one never imports
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
            # Already run on the whole check sample when it comes back: no warm-up needed.
            model, reason = _try_converted(artifact, onnx_settings=onnx_settings, isolate=isolate_conversion)
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
    logger.info("model %s %s: %s, loaded in %.2f s", metadata.name, metadata.version, model.metadata.runtime, elapsed)
    return model


def _try_converted(artifact: Artifact, *, onnx_settings: dict, isolate: bool) -> tuple[Model | None, str]:
    """(the converted model, "") if it reproduces the original on the check sample, else (None, why not)."""
    from serving_app.models import conversion
    from serving_app.models.onnx_backend import OnnxModel, create_session

    metadata = artifact.metadata
    sample = conversion.check_sample(metadata, artifact.sample_rows)
    prepare = conversion.prepare_candidate_in_subprocess if isolate else conversion.prepare_candidate
    where = f"{artifact.model_path} (converted to ONNX)"
    try:
        candidate = prepare(artifact, sample)
        session = create_session(candidate.onnx_model, where=where, **onnx_settings)
        model = OnnxModel(metadata, session, candidate.output_names, where=where)
        converted_outputs = model.predict(sample)
    except conversion.ConversionFailed as exc:
        return None, str(exc)
    except ModelLoadError as exc:
        if exc.where == where:  # the converted graph is bad; the original may still serve
            return None, f"onnxruntime rejects the converted model: {exc.detail}"
        raise
    except Exception as exc:  # the converted model failed to run: serve the original
        return None, f"the converted model fails on the check sample: {type(exc).__name__}: {exc}"
    try:
        original_outputs = {
            spec.name: conform(candidate.reference[spec.name], spec, len(sample)) for spec in metadata.outputs
        }
    except OutputMismatch as exc:
        # The original itself does not fit the metadata; the fallback load reports it properly.
        return None, str(exc)
    problems = compare_outputs(converted_outputs, original_outputs, metadata.outputs)
    if problems:
        return None, f"the converted model disagrees with the original on {len(sample)} check rows: " + "; ".join(
            problems
        )
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
