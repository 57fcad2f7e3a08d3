"""`package`: a trained model file -> an artifact directory the server loads, checked by loading it.

Reads the model (`formats.py`), aligns the sample rows to its features by name, infers the
outputs' names, datatypes and shapes by running the model on them, and writes the artifact:
the model file, `sample.json` (the rows as given), for scikit-learn the verified ONNX graph with
its check (`serving_app/models/converted.py`), then `metadata.json` with the sha256 of every
file. It then loads the result with the server's own loader and compares the server's answers
with the model's own answers on the sample rows as given: labels equal, numbers within
`outputs.RTOL`/`ATOL`; what it compared and the tolerance go into `metadata.json` (`check`).

The input dtype is the model's own: float64 for scikit-learn (what JSON numbers are), the
graph's input type for ONNX, so the server answers what the model answers. `--dtype float32`
for scikit-learn is an explicit narrowing: the server must still reproduce the model on the
rounded rows, and the difference rounding makes on the sample is printed and recorded.

The artifact is written in a scratch directory renamed into place at the end, so a failure
leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.model_store_layout import LOCAL_VERSION_PREFIX, NAME_PATTERN, VERSION_PATTERN
from mlserve.models.errors import BadInput, CannotPackage
from mlserve.models.formats import Source, read_source
from mlserve.models.samples import Sample, read_sample, synthesize
from serving_app.models.artifact import MODEL_FILES, CheckRecord, ConversionRecord, OutputCheck, write_metadata, write_sample
from serving_app.models.base import ModelLoadError, OutputSpec
from serving_app.models.outputs import ATOL, RTOL, compare_outputs, conform, differences

_V2_BY_KIND = {"b": "BOOL", "O": "BYTES", "U": "BYTES", "S": "BYTES"}
_V2_BY_DTYPE = {"int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "uint8": "UINT8",
                "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64", "float16": "FP16",
                "float32": "FP32", "float64": "FP64"}
SKLEARN_DTYPE = "float64"
"""A scikit-learn model's default input dtype: JSON numbers are doubles, and the model computes on
what it is given (trees round to float32 themselves, HistGradientBoosting and linear models do not)."""


@dataclass(frozen=True)
class Packaged:
    """What `package` wrote."""

    directory: Path
    framework: str
    n_features: int
    outputs: tuple[OutputSpec, ...]
    runtime: str  # what the server runs it with, e.g. onnxruntime[CPUExecutionProvider]
    input_dtype: str
    check: CheckRecord
    conversion: ConversionRecord | None
    notes: tuple[str, ...]  # what the user should know: narrowing measured, outputs left out, no ONNX graph


def _datatype(array: np.ndarray, output: str) -> str:
    datatype = _V2_BY_KIND.get(array.dtype.kind) or _V2_BY_DTYPE.get(array.dtype.name)
    if datatype is None:
        raise CannotPackage(f"output {output!r} has dtype {array.dtype}, which no V2 datatype fits")
    return datatype


def _sklearn_outputs(estimator, rows: np.ndarray) -> tuple[list[OutputSpec], dict[str, np.ndarray]]:
    from sklearn.base import is_classifier

    predicted, probabilities = _sklearn_predict(estimator, rows)
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


def _sklearn_predict(estimator, rows: np.ndarray) -> tuple[np.ndarray, object]:
    """predict (and predict_proba for a classifier) on plain rows in the model's feature order."""
    from sklearn.base import is_classifier

    with warnings.catch_warnings():
        # "X does not have valid feature names": the rows are in the model's own order, as the server sends them.
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        try:
            predicted = np.asarray(estimator.predict(rows))
            probabilities = None
            if is_classifier(estimator) and hasattr(estimator, "predict_proba"):
                probabilities = estimator.predict_proba(rows)
        except Exception as exc:
            raise CannotPackage(f"prediction fails on the sample: {type(exc).__name__}: {exc}") from None
    return predicted, probabilities


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


def _shown(names: list[str] | tuple[str, ...], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def align(sample: Sample, source: Source) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Sample rows in the model's feature order, the feature names, and the sample columns left out."""
    rows, names = sample.rows, source.feature_names
    if names is not None and sample.columns is not None:
        missing = [name for name in names if name not in sample.columns]
        if missing:
            raise BadInput(f"the sample has no column {', '.join(map(repr, missing))}: the model takes "
                           f"{_shown(list(names))}; the sample has {_shown(list(sample.columns))}")
        ignored = tuple(column for column in sample.columns if column not in names)
        return rows[:, [sample.columns.index(name) for name in names]], tuple(names), ignored
    n_features = source.n_features or rows.shape[1]
    if rows.shape[1] != n_features:
        raise BadInput(f"the sample has {rows.shape[1]} feature columns, the model takes {n_features} and names "
                       "none of them (leave out label or id columns with --drop-column)")
    if names is None:
        names = sample.columns or tuple(f"f{i}" for i in range(n_features))
    return rows, tuple(names), ()


def _input_dtype(source: Source, dtype: str | None) -> str:
    if source.input_dtype is not None:  # an ONNX graph takes one type
        if dtype is not None and dtype != source.input_dtype:
            raise BadInput(f"--dtype {dtype}: the ONNX graph's input is {source.input_dtype}; leave --dtype out")
        return source.input_dtype
    return dtype or SKLEARN_DTYPE


def _sample_for(source: Source, sample_path: Path | None, drop_columns: tuple[str, ...], synthesize_rows: int) -> Sample:
    if sample_path is not None:
        return read_sample(sample_path, drop_columns=drop_columns)
    if synthesize_rows:
        if source.n_features is None:
            raise BadInput("the model does not say how many features it takes: name sample rows with --sample")
        return synthesize(source.n_features, synthesize_rows)
    raise BadInput("name sample rows with --sample FILE (.csv or .parquet), or ask for random ones "
                   "with --synthesize-sample N")


def _check_record(served: dict, reference: dict, specs: tuple[OutputSpec, ...], rows: int, reference_dtype: str) -> CheckRecord:
    measured = differences(served, reference, specs)
    return CheckRecord(rows=rows, reference_dtype=reference_dtype, rtol=RTOL, atol=ATOL,
                       outputs={name: OutputCheck(rows_differing=n, max_abs_diff=worst) for name, (n, worst) in measured.items()})


def package(source_path: Path, out: Path, *, name: str, version: str, sample_path: Path | None = None,
            drop_columns: tuple[str, ...] = (), synthesize_rows: int = 0, dtype: str | None = None,
            convert: bool = True) -> Packaged:
    """Write the artifact for `source_path` into `out` (which must not hold files yet); see the module docstring.

    `dtype` None is the model's own (float64 for scikit-learn, the graph's for ONNX); `convert=False`
    stores no ONNX graph (the server then converts at load time)."""
    check_ref(name, version)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {out}: already exists and is not empty; name a new directory")
    from threadpoolctl import threadpool_limits

    # A few hundred rows at most: one OpenMP/BLAS thread is fastest, and on a busy machine the
    # spinning workers of HistGradientBoosting's predict cost 100x (13 ms a call instead of 0.1 ms).
    with threadpool_limits(limits=1):
        return _package(source_path, out, name=name, version=version, sample_path=sample_path,
                        drop_columns=drop_columns, synthesize_rows=synthesize_rows, dtype=dtype, convert=convert)


def _package(source_path: Path, out: Path, *, name: str, version: str, sample_path: Path | None,
             drop_columns: tuple[str, ...], synthesize_rows: int, dtype: str | None, convert: bool) -> Packaged:
    source = read_source(source_path)
    sample = _sample_for(source, sample_path, drop_columns, synthesize_rows)
    input_dtype = _input_dtype(source, dtype)
    given, feature_names, ignored = align(sample, source)  # float64: the sample as given
    rows = given.astype(input_dtype)  # what the server's model receives
    notes = [f"sample columns {list(ignored)} are not features of the model and were left out"] if ignored else []
    skipped: list[str] = []
    if source.framework == "sklearn":
        specs, reference = _sklearn_outputs(source.model, given)  # the model's own answers on the sample as given
        narrowed = input_dtype != SKLEARN_DTYPE
        _, reference_at_dtype = _sklearn_outputs(source.model, rows) if narrowed else (specs, reference)
        reference_dtype = SKLEARN_DTYPE
    else:
        specs, reference, skipped = _onnx_outputs(source.model, rows)
        reference_at_dtype, reference_dtype = reference, input_dtype
    try:
        reference = {spec.name: conform(reference[spec.name], spec, len(rows)) for spec in specs}
        reference_at_dtype = {spec.name: conform(reference_at_dtype[spec.name], spec, len(rows)) for spec in specs}
    except ValueError as exc:
        raise CannotPackage(f"an output it cannot type: {exc}") from None
    specs = tuple(specs)

    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model_file = scratch / MODEL_FILES[source.framework]
        if source.framework == "sklearn":
            import joblib

            joblib.dump(source.model, model_file)
        else:
            model_file.write_bytes(source.model)
        write_sample(scratch, given)
        conversion = None
        if source.framework == "sklearn" and convert:
            from serving_app.models.converted import store_conversion

            conversion = store_conversion(scratch, source.model, feature_names=feature_names, input_dtype=input_dtype,
                                          outputs=specs, sample_rows=given)
        served_model = _load_served(scratch, feature_names, input_dtype, name, version, source.framework, specs, conversion)
        served = served_model.predict(rows)
        problems = compare_outputs(served, reference_at_dtype, specs)
        if problems:
            raise CannotPackage(f"the server's answers differ from the model's on the {input_dtype} sample rows: "
                                + "; ".join(problems))
        check = _check_record(served, reference, specs, len(rows), reference_dtype)
        differing = {out_name: c for out_name, c in check.outputs.items() if c.rows_differing}
        if differing:  # only after an explicit narrowing: at the model's own dtype the check above is this one
            notes.append(f"--dtype {input_dtype} changes the answers on the sample as given: " + "; ".join(
                f"{out_name} differs on {c.rows_differing} of {len(rows)} rows"
                + (f" (max |diff| {c.max_abs_diff:.3g})" if c.max_abs_diff is not None else "")
                for out_name, c in differing.items()) + "; recorded in metadata.json; leave --dtype out to keep them")
        elif input_dtype != reference_dtype:
            notes.append(f"--dtype {input_dtype}: no difference on the {len(rows)} sample rows (recorded in metadata.json)")
        write_metadata(scratch, name=name, version=version, framework=source.framework, feature_names=feature_names,
                       input_dtype=input_dtype, outputs=specs, check=check, conversion=conversion)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(scratch, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if skipped:
        notes.append(f"outputs {skipped} are not tensors and are not served")
    if conversion is not None and conversion.failed is not None:
        notes.append(f"served with scikit-learn: no ONNX graph reproduces the model ({_short(conversion.failed)})")
    return Packaged(out, source.framework, len(feature_names), specs, served_model.metadata.runtime, input_dtype,
                    check, conversion, tuple(notes))


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _load_served(scratch: Path, feature_names, input_dtype, name, version, framework, specs, conversion):
    """The artifact as the server loads it (metadata written first without the check, which needs its answers)."""
    from serving_app.models import load_model

    write_metadata(scratch, name=name, version=version, framework=framework, feature_names=feature_names,
                   input_dtype=input_dtype, outputs=specs, conversion=conversion)
    loader_log = logging.getLogger("serving_app.models.loader")
    level = loader_log.level
    loader_log.setLevel(logging.ERROR)  # its "serving with scikit-learn" warning is one of package's notes
    try:
        # In this process: the tool has scikit-learn loaded anyway, a child would only add start-up time.
        return load_model(str(scratch), isolate_conversion=False, use_gpu=False)
    except ModelLoadError as exc:
        raise CannotPackage(f"the server's loader rejects the result: {exc}") from None
    finally:
        loader_log.setLevel(level)
