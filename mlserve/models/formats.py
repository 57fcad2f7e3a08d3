"""The model files `package` reads: scikit-learn pickles, ONNX files, MLflow model directories.

Reads a scikit-learn estimator or Pipeline (joblib or pickle, compressed or not), an ONNX file,
or an MLflow model directory (its `MLmodel` file's `sklearn` or `onnx` flavour, parsed as YAML:
mlflow itself is not imported), and what each says of its inputs: feature count and names, and
for ONNX the one input type the graph takes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlserve.models.errors import BadInput, CannotPackage

SKLEARN_SUFFIXES = (".joblib", ".pkl", ".pickle", ".sav")
"""What scikit-learn models are saved as (`.sav` is the scikit-learn docs' pickle example)."""

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".z", ".lz4")
"""joblib's compressions, appended to a pickle's name (`model.joblib.gz`); joblib.load reads them by their magic bytes."""

_ONNX_INPUTS = {"tensor(float)": "float32", "tensor(double)": "float64"}


@dataclass(frozen=True)
class Source:
    """A model read from the user's file: scikit-learn estimator or ONNX bytes, and what it says of its inputs."""

    framework: str  # "sklearn" or "onnx"
    model: object  # the estimator, or the ONNX model's bytes
    feature_names: tuple[str, ...] | None
    n_features: int | None
    input_dtype: str | None  # fixed by an ONNX graph's input type; None for scikit-learn


def _is_pickle(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in SKLEARN_SUFFIXES


def read_source(path: Path) -> Source:
    """The model at `path`: a scikit-learn pickle, a .onnx file, or an MLflow model directory."""
    if path.is_dir():
        if not (path / "MLmodel").is_file():
            raise BadInput(f"{path}: a directory without an MLmodel file (package reads MLflow model directories)")
        return _read_mlflow(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    if path.suffix.lower() == ".onnx":
        return onnx_source(path.read_bytes(), feature_names=None, where=str(path))
    if _is_pickle(path):
        return sklearn_source(unpickle(path), feature_names=None, where=str(path))
    raise BadInput(f"{path}: expected a scikit-learn model ({', '.join(SKLEARN_SUFFIXES)}, optionally compressed: "
                   f"{', '.join(COMPRESSED_SUFFIXES)}), an .onnx file or an MLflow directory")


def unpickle(path: Path) -> object:
    import joblib

    try:
        return joblib.load(path)  # reads plain pickles too, and compressed ones by their magic bytes
    except Exception as exc:  # unpickling fails in any way: a missing module, a truncated file, ...
        raise CannotPackage(f"{path}: cannot be unpickled ({type(exc).__name__}: {exc})") from None


def _read_mlflow(directory: Path) -> Source:
    try:
        document = yaml.safe_load((directory / "MLmodel").read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{directory / 'MLmodel'}: not valid YAML ({exc})") from None
    if not isinstance(document, dict):
        raise BadInput(f"{directory / 'MLmodel'}: not an MLmodel file (expected a mapping with 'flavors')")
    flavors = document.get("flavors") or {}
    names = _signature_names(document.get("signature") or {})
    if "onnx" in flavors:
        model_file = directory / str((flavors["onnx"] or {}).get("data", "model.onnx"))
        if not model_file.is_file():
            raise BadInput(f"{model_file}: named by MLmodel's onnx flavour but missing")
        return onnx_source(model_file.read_bytes(), feature_names=names, where=str(model_file))
    if "sklearn" in flavors:
        flavor = flavors["sklearn"] or {}
        model_file = directory / str(flavor.get("pickled_model", "model.pkl"))
        if not model_file.is_file():
            raise BadInput(f"{model_file}: named by MLmodel's sklearn flavour but missing")
        if flavor.get("serialization_format") == "skops":
            estimator = _load_skops(model_file, flavor.get("skops_trusted_types"))
        else:  # "pickle" or "cloudpickle": both read back with pickle
            estimator = unpickle(model_file)
        return sklearn_source(estimator, feature_names=names, where=str(model_file))
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


def sklearn_source(estimator: object, *, feature_names: tuple[str, ...] | None, where: str) -> Source:
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


def onnx_source(data: bytes, *, feature_names: tuple[str, ...] | None, where: str) -> Source:
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
