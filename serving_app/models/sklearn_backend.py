"""scikit-learn backend: a `Model` over an estimator loaded from `model.joblib`.

This is the fallback when the ONNX conversion is off or did not reproduce the estimator.
Loading it imports scikit-learn (and SciPy), about 100 MB of resident memory.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from serving_app.models.base import ModelLoadError, ModelMetadata, OutputSpec
from serving_app.models.outputs import as_rows, conform

OUTPUT_METHODS = {"label": "predict", "prediction": "predict", "probabilities": "predict_proba"}
"""Which estimator method fills each output name a scikit-learn artifact may declare."""


def output_methods(outputs: tuple[OutputSpec, ...], *, where: str) -> dict[str, str]:
    """{output name: estimator method}; an output name outside OUTPUT_METHODS is a ModelLoadError."""
    unknown = [spec.name for spec in outputs if spec.name not in OUTPUT_METHODS]
    if unknown:
        raise ModelLoadError(
            "bad metadata",
            where,
            f"outputs: {unknown} not servable from a scikit-learn model; use {sorted(OUTPUT_METHODS)}",
        )
    return {spec.name: OUTPUT_METHODS[spec.name] for spec in outputs}


def load_estimator(path: Path) -> object:
    """Unpickle `model.joblib`; any failure is a 'corrupt model file' ModelLoadError."""
    import joblib  # lazily: the ONNX path never needs it

    try:
        estimator = joblib.load(path)
    except Exception as exc:  # unpickling can fail in any way: EOFError, UnpicklingError, ModuleNotFoundError, MemoryError, ...
        raise ModelLoadError(
            "corrupt model file", str(path), f"joblib cannot load it: {type(exc).__name__}: {exc}"
        ) from exc
    return estimator


def accept_rows_without_names() -> None:
    """Silence scikit-learn's "X does not have valid feature names, but <Estimator> was fitted
    with feature names" for this process: the server always passes plain arrays whose columns
    are in the model's own feature order (`SklearnModel` checks the names against the metadata),
    so the warning would only repeat on every call of a model fitted on a DataFrame."""
    warnings.filterwarnings(
        "ignore", message=r"X does not have valid feature names, but \w+ was fitted with feature names",
        category=UserWarning,
    )


def check_feature_names(estimator: object, metadata: ModelMetadata, *, where: str) -> None:
    """A model fitted on named columns must list them in the metadata's order: rows are passed by
    position. Once that holds, scikit-learn's warning about unnamed rows is silenced."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and tuple(str(name) for name in fitted) != tuple(metadata.feature_names):
        raise ModelLoadError(
            "model does not match metadata", where,
            f"the estimator was fitted on columns {list(map(str, fitted))}, metadata lists {list(metadata.feature_names)}",
        )
    accept_rows_without_names()


def raw_outputs(estimator: object, rows: np.ndarray, methods: dict[str, str]) -> dict[str, np.ndarray]:
    """Each output as the estimator computes it, before conforming; each method called once."""
    results: dict[str, np.ndarray] = {}
    if "predict_proba" in methods.values():
        results["predict_proba"] = estimator.predict_proba(rows)
        if _predict_is_argmax_of_proba(estimator):
            # A forest's or tree's predict() is exactly classes_[argmax(predict_proba)]
            # (sklearn/ensemble/_forest.py, ForestClassifier.predict): skip the second pass.
            results["predict"] = estimator.classes_.take(np.argmax(results["predict_proba"], axis=1))
    if "predict" in methods.values() and "predict" not in results:
        results["predict"] = estimator.predict(rows)
    return {name: results[method] for name, method in methods.items()}


def _predict_is_argmax_of_proba(estimator: object) -> bool:
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.tree import BaseDecisionTree

    return (
        isinstance(estimator, (ForestClassifier, BaseDecisionTree))
        and getattr(estimator, "n_outputs_", 1) == 1
        and hasattr(estimator, "classes_")
    )


def _single_threaded(estimator: object) -> None:
    # One server process per core: an estimator saved with n_jobs=-1 would start a thread
    # per core in every process on every call, and OpenMP code (HistGradientBoosting's
    # predict) a thread per core too: on a busy core that costs 13 ms per call instead of
    # 0.05 ms. threadpoolctl (a scikit-learn dependency) caps OpenMP and BLAS for the process.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    try:
        params = estimator.get_params(deep=True)
        estimator.set_params(**{key: 1 for key in params if key.split("__")[-1] == "n_jobs"})
    except Exception:  # not a scikit-learn estimator API; leave it as it is
        pass


class SklearnModel:
    """A `Model` served by the estimator itself."""

    def __init__(self, metadata: ModelMetadata, estimator: object, *, where: str, fallback_reason: str = "") -> None:
        self._methods = output_methods(metadata.outputs, where=where)
        missing = sorted({m for m in self._methods.values() if not hasattr(estimator, m)})
        if missing:
            raise ModelLoadError("model does not match metadata", where, f"{type(estimator).__name__} has no {missing}")
        n_features_in = getattr(estimator, "n_features_in_", metadata.n_features)
        if n_features_in != metadata.n_features:
            raise ModelLoadError(
                "model does not match metadata",
                where,
                f"estimator takes {n_features_in} features, metadata says {metadata.n_features}",
            )
        check_feature_names(estimator, metadata, where=where)
        _single_threaded(estimator)
        self.metadata = dataclasses.replace(metadata, runtime="sklearn")
        self.estimator = estimator
        self.fallback_reason = fallback_reason
        """Why the ONNX conversion was not used ('' when it was not tried)."""
        self._dtype = np.dtype(metadata.input_dtype)

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Rows (n, n_features) to {output name: array}, in `metadata.outputs` order."""
        rows = as_rows(rows, self._dtype, self.metadata.n_features)
        n_rows = rows.shape[0]
        if n_rows == 0:
            return {spec.name: conform(np.empty((0, *spec.shape)), spec, 0) for spec in self.metadata.outputs}
        raw = raw_outputs(self.estimator, rows, self._methods)
        return {spec.name: conform(raw[spec.name], spec, n_rows) for spec in self.metadata.outputs}
