"""`package`: a trained model file -> an artifact directory the server loads, checked by loading it.

Reads a scikit-learn estimator or Pipeline (joblib or pickle), an ONNX file, or an MLflow model
directory (its `MLmodel` file's `sklearn` or `onnx` flavour, parsed as YAML: mlflow itself is not
imported). It infers the feature count and names, the outputs' names, datatypes and shapes by
running the model on sample rows, writes `metadata.json` (with the sha256) and `sample.json`, then
loads the result with the server's own loader and requires the same answers as the original model
on the sample. The artifact is written in a scratch directory renamed into place at the end, so a
failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from components.model_store_layout import LOCAL_VERSION_PREFIX, NAME_PATTERN, VERSION_PATTERN
from mlserve.models.errors import BadInput, CannotPackage
from mlserve.models.samples import Sample, read_sample, synthesize
from serving_app.models.artifact import MODEL_FILES, write_metadata, write_sample
from serving_app.models.base import ModelLoadError, OutputSpec
from serving_app.models.outputs import compare_outputs, conform

_V2_BY_KIND = {"b": "BOOL", "O": "BYTES", "U": "BYTES", "S": "BYTES"}
_V2_BY_DTYPE = {"int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "uint8": "UINT8",
                "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64", "float16": "FP16",
                "float32": "FP32", "float64": "FP64"}
_ONNX_INPUTS = {"tensor(float)": "float32", "tensor(double)": "float64"}
SKLEARN_SUFFIXES = (".joblib", ".pkl", ".pickle")


@dataclass(frozen=True)
class Source:
    """A model read from the user's file: scikit-learn estimator or ONNX bytes, and what it says of its inputs."""

    framework: str  # "sklearn" or "onnx"
    model: object  # the estimator, or the ONNX model's bytes
    feature_names: tuple[str, ...] | None
    n_features: int | None
    input_dtype: str | None  # fixed by an ONNX graph's input type; None for scikit-learn


@dataclass(frozen=True)
class Packaged:
    """What `package` wrote."""

    directory: Path
    framework: str
    n_features: int
    outputs: tuple[OutputSpec, ...]
    runtime: str  # what the server runs it with, e.g. onnxruntime[CPUExecutionProvider]


def read_source(path: Path) -> Source:
    """The model at `path`: a .joblib/.pkl/.pickle file, a .onnx file, or an MLflow model directory."""
    if path.is_dir():
        if not (path / "MLmodel").is_file():
            raise BadInput(f"{path}: a directory without an MLmodel file (package reads MLflow model directories)")
        return _read_mlflow(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    if path.suffix == ".onnx":
        return _onnx_source(path.read_bytes(), feature_names=None, where=str(path))
    if path.suffix in SKLEARN_SUFFIXES:
        return _sklearn_source(_unpickle(path), feature_names=None, where=str(path))
    raise BadInput(f"{path}: expected a scikit-learn model (.joblib, .pkl, .pickle), an .onnx file or an MLflow directory")


def _unpickle(path: Path) -> object:
    import joblib

    try:
        return joblib.load(path)  # reads plain pickles too
    except Exception as exc:  # unpickling fails in any way: a missing module, a truncated file, ...
        raise CannotPackage(f"{path}: cannot be unpickled ({type(exc).__name__}: {exc})") from None


def _read_mlflow(directory: Path) -> Source:
    try:
        document = yaml.safe_load((directory / "MLmodel").read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{directory / 'MLmodel'}: not valid YAML ({exc})") from None
    flavors = document.get("flavors") or {}
    names = _signature_names(document.get("signature") or {})
    if "onnx" in flavors:
        model_file = directory / str(flavors["onnx"].get("data", "model.onnx"))
        return _onnx_source(model_file.read_bytes(), feature_names=names, where=str(model_file))
    if "sklearn" in flavors:
        flavor = flavors["sklearn"]
        model_file = directory / str(flavor.get("pickled_model", "model.pkl"))
        if not model_file.is_file():
            raise BadInput(f"{model_file}: named by MLmodel's sklearn flavour but missing")
        if flavor.get("serialization_format") == "skops":
            estimator = _load_skops(model_file, flavor.get("skops_trusted_types"))
        else:  # "pickle" or "cloudpickle": both read back with pickle
            estimator = _unpickle(model_file)
        return _sklearn_source(estimator, feature_names=names, where=str(model_file))
    raise CannotPackage(f"{directory}: MLmodel flavours {sorted(flavors)}; package reads 'sklearn' or 'onnx'")


def _load_skops(path: Path, trusted: list[str] | None) -> object:
    import skops.io

    try:
        return skops.io.load(path, trusted=trusted)
    except Exception as exc:  # skops refuses types nobody trusted, or the file is bad
        raise CannotPackage(f"{path}: skops cannot load it ({type(exc).__name__}: {exc})") from None


def _signature_names(signature: dict) -> tuple[str, ...] | None:
    """Column names from an MLflow signature's inputs ('[{"type": "double", "name": "age"}, ...]')."""
    try:
        inputs = json.loads(signature.get("inputs") or "[]")
    except (TypeError, json.JSONDecodeError):
        return None
    names = tuple(spec["name"] for spec in inputs if isinstance(spec, dict) and "name" in spec)
    return names if names and len(names) == len(inputs) else None


def _sklearn_source(estimator: object, *, feature_names: tuple[str, ...] | None, where: str) -> Source:
    from sklearn.base import is_classifier, is_regressor

    kind = type(estimator).__name__
    if not hasattr(estimator, "predict") or not (is_classifier(estimator) or is_regressor(estimator)):
        raise CannotPackage(f"{where}: unsupported estimator {kind}: package takes scikit-learn classifiers and "
                            "regressors, or Pipelines ending in one")
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise CannotPackage(f"{where}: {kind} is not fitted (no n_features_in_); fit it before saving")
    own_names = getattr(estimator, "feature_names_in_", None)
    names = tuple(str(n) for n in own_names) if own_names is not None else feature_names
    return Source("sklearn", estimator, names, int(n_features), None)


def _onnx_source(data: bytes, *, feature_names: tuple[str, ...] | None, where: str) -> Source:
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise CannotPackage(f"{where}: ONNX Runtime cannot load it ({exc})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type not in _ONNX_INPUTS:
        found = [(i.name, i.type) for i in inputs]
        raise CannotPackage(f"{where}: graph inputs {found}; the server feeds one float or double tensor (n, features)")
    width = inputs[0].shape[-1] if inputs[0].shape else None
    return Source("onnx", data, feature_names, width if isinstance(width, int) else None, _ONNX_INPUTS[inputs[0].type])


def _datatype(array: np.ndarray, output: str) -> str:
    datatype = _V2_BY_KIND.get(array.dtype.kind) or _V2_BY_DTYPE.get(array.dtype.name)
    if datatype is None:
        raise CannotPackage(f"output {output!r} has dtype {array.dtype}, which no V2 datatype fits")
    return datatype


def _sklearn_outputs(estimator, rows: np.ndarray) -> tuple[list[OutputSpec], dict[str, np.ndarray]]:
    from sklearn.base import is_classifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "X does not have valid feature names": the server sends arrays too
        try:
            predicted = np.asarray(estimator.predict(rows))
            probabilities = None
            if is_classifier(estimator) and hasattr(estimator, "predict_proba"):
                probabilities = estimator.predict_proba(rows)
        except Exception as exc:
            raise CannotPackage(f"prediction fails on the sample: {type(exc).__name__}: {exc}") from None
    if predicted.ndim == 0 or len(predicted) != len(rows):
        raise CannotPackage(f"predict returns shape {predicted.shape} for {len(rows)} rows; cannot type it")
    if is_classifier(estimator):
        if predicted.ndim != 1:
            raise CannotPackage(f"multi-output classifier (predict shape {predicted.shape}): outputs it cannot type")
        specs = [OutputSpec("label", _datatype(predicted, "label"), ())]
        reference = {"label": predicted}
        if probabilities is not None:
            if isinstance(probabilities, list) or np.ndim(probabilities) != 2:
                raise CannotPackage("predict_proba returns one array per output; outputs it cannot type")
            specs.append(OutputSpec("probabilities", "FP32", (int(np.shape(probabilities)[1]),)))
            reference["probabilities"] = np.asarray(probabilities)
        return specs, reference
    datatype = "FP64" if predicted.dtype.kind == "f" else _datatype(predicted, "prediction")
    return [OutputSpec("prediction", datatype, tuple(int(d) for d in predicted.shape[1:]))], {"prediction": predicted}


def _onnx_outputs(data: bytes, rows: np.ndarray) -> tuple[list[OutputSpec], dict[str, np.ndarray], list[str]]:
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    tensors = [o.name for o in session.get_outputs() if o.type.startswith("tensor(")]
    skipped = [f"{o.name} ({o.type})" for o in session.get_outputs() if not o.type.startswith("tensor(")]
    if not tensors:
        raise CannotPackage(f"no tensor outputs ({', '.join(skipped)}); export classifiers with zipmap=False")
    try:
        values = session.run(tensors, {session.get_inputs()[0].name: rows})
    except Exception as exc:
        raise CannotPackage(f"prediction fails on the sample: {type(exc).__name__}: {exc}") from None
    specs, reference = [], {}
    for name, value in zip(tensors, values, strict=True):
        value = np.asarray(value)
        if value.ndim == 0 or value.shape[0] != len(rows):
            raise CannotPackage(f"output {name!r} has shape {value.shape} for {len(rows)} rows; cannot type it")
        specs.append(OutputSpec(name, _datatype(value, name), tuple(int(d) for d in value.shape[1:])))
        reference[name] = value
    return specs, reference, skipped


def check_ref(name: str, version: str) -> None:
    """A name and version the store accepts; `local-` versions are the stack's own."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise BadInput(f"--name {name!r}: lower-case letters, digits and '-' (e.g. fraud-model)")
    if not re.fullmatch(VERSION_PATTERN, version) or version.startswith(LOCAL_VERSION_PREFIX):
        raise BadInput(f"--version {version!r}: letters, digits, '.', '_', '-' (e.g. 3), not starting with "
                       f"{LOCAL_VERSION_PREFIX!r} (the stack's own uploads)")


def _aligned(sample: Sample, source: Source) -> tuple[np.ndarray, tuple[str, ...]]:
    """Sample rows in the model's feature order, and the feature names."""
    rows, names = sample.rows, source.feature_names
    if names is not None and sample.columns is not None and set(names) <= set(sample.columns):
        rows = rows[:, [sample.columns.index(n) for n in names]]
    elif names is not None and sample.columns is not None and len(names) == len(sample.columns):
        raise BadInput(f"sample columns {list(sample.columns)} are not the model's features {list(names)}")
    n_features = source.n_features or rows.shape[1]
    if rows.shape[1] != n_features:
        raise BadInput(f"the sample has {rows.shape[1]} feature columns, the model takes {n_features} "
                       "(leave out label or id columns with --drop-column)")
    if names is None:
        names = sample.columns or tuple(f"f{i}" for i in range(n_features))
    return rows, tuple(names)


def package(source_path: Path, out: Path, *, name: str, version: str, sample_path: Path | None = None,
            drop_columns: tuple[str, ...] = (), synthesize_rows: int = 0, dtype: str = "float32") -> Packaged:
    """Write the artifact for `source_path` into `out` (which must not hold files yet); see the module docstring."""
    check_ref(name, version)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {out}: already exists and is not empty; name a new directory")
    source = read_source(source_path)
    if sample_path is not None:
        sample = read_sample(sample_path, drop_columns=drop_columns)
    elif synthesize_rows:
        if source.n_features is None:
            raise BadInput("the model does not say how many features it takes: name sample rows with --sample")
        sample = synthesize(source.n_features, synthesize_rows)
    else:
        raise BadInput("name sample rows with --sample FILE (.csv or .parquet), or ask for random ones "
                       "with --synthesize-sample N")
    input_dtype = source.input_dtype or dtype
    rows, feature_names = _aligned(sample, source)
    rows = rows.astype(input_dtype)
    skipped: list[str] = []
    if source.framework == "sklearn":
        specs, reference = _sklearn_outputs(source.model, rows)
    else:
        specs, reference, skipped = _onnx_outputs(source.model, rows)
    try:
        reference = {spec.name: conform(reference[spec.name], spec, len(rows)) for spec in specs}
    except ValueError as exc:
        raise CannotPackage(f"an output it cannot type: {exc}") from None

    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model_file = scratch / MODEL_FILES[source.framework]
        if source.framework == "sklearn":
            import joblib

            joblib.dump(source.model, model_file)
        else:
            model_file.write_bytes(source.model)
        write_metadata(scratch, name=name, version=version, framework=source.framework,
                       feature_names=feature_names, input_dtype=input_dtype, outputs=specs)
        write_sample(scratch, rows)
        served_model = _load_served(scratch)
        served = served_model.predict(rows)
        problems = compare_outputs(served, reference, tuple(specs))
        if problems:
            raise CannotPackage("the server's answers differ from the model's on the sample: " + "; ".join(problems))
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(scratch, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if skipped:
        print(f"note: outputs {skipped} are not tensors and are not served")
    return Packaged(out, source.framework, len(feature_names), tuple(specs), served_model.metadata.runtime)


def _load_served(directory: Path):
    from serving_app.models import load_model

    try:
        # In this process: the tool has scikit-learn loaded anyway, a child would only add start-up time.
        return load_model(str(directory), isolate_conversion=False, use_gpu=False)
    except ModelLoadError as exc:
        raise CannotPackage(f"the server's loader rejects the result: {exc}") from None
