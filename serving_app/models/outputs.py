"""Rows in and outputs out: the checks and conversions both backends share.

Both backends pass their raw arrays through `conform`, so whichever runtime serves, the
server sees the same dtypes and shapes: those `metadata.json` declares.
"""

from __future__ import annotations

import numpy as np

from serving_app.models.base import OutputSpec

NUMPY_DTYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
"""numpy dtype per V2 datatype. BYTES outputs are object arrays of Python `str`."""

FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})

RTOL = 1e-5
ATOL = 1e-5
"""Float outputs of a converted model must satisfy |converted - original| <= ATOL + RTOL * |original|.

A 50-tree forest sums leaf values in float32 under ONNX Runtime and in float64 under
scikit-learn; the difference seen is ~3e-7, so 1e-5 leaves room without letting a wrong
tree through (one misrouted tree moves a probability by ~1/n_trees).
"""


def as_rows(rows: np.ndarray, dtype: np.dtype, n_features: int) -> np.ndarray:
    """`rows` as a C-contiguous (n, n_features) array of `dtype` (no copy when it already is one)."""
    rows = np.ascontiguousarray(rows, dtype=dtype)
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise ValueError(f"expected rows of shape (n, {n_features}), got {rows.shape}")
    return rows


class OutputMismatch(ValueError):
    """A raw output cannot be brought to its declared datatype or shape."""


def conform(value: object, spec: OutputSpec, n_rows: int) -> np.ndarray:
    """`value` as an array of `spec.datatype` with shape (n_rows, *spec.shape).

    A size-preserving reshape is allowed ((n, 1) -> (n,) for a regressor's prediction);
    anything else raises OutputMismatch naming the output.
    """
    array = np.asarray(value)
    try:
        if spec.datatype == "BYTES":
            if array.dtype != np.object_ or (array.size and not isinstance(array.flat[0], str)):
                array = np.array([str(item) for item in array.ravel()], dtype=object).reshape(array.shape)
        else:
            array = array.astype(NUMPY_DTYPES[spec.datatype], copy=False)
    except (TypeError, ValueError) as exc:
        raise OutputMismatch(f"output {spec.name!r}: cannot be {spec.datatype} ({exc})") from exc
    expected = (n_rows, *spec.shape)
    if array.shape != expected:
        if array.size != int(np.prod(expected)):
            raise OutputMismatch(f"output {spec.name!r}: shape {array.shape}, metadata declares {expected}")
        array = array.reshape(expected)
    return array


def differences(
    candidate: dict[str, np.ndarray], reference: dict[str, np.ndarray], specs: tuple[OutputSpec, ...]
) -> dict[str, tuple[int, float | None]]:
    """Per output: (rows where `candidate` differs from `reference` beyond RTOL/ATOL, or at all for
    non-float outputs; the largest absolute difference of a float output, else None)."""
    measured: dict[str, tuple[int, float | None]] = {}
    for spec in specs:
        got, want = candidate[spec.name], reference[spec.name]
        if spec.datatype in FLOAT_DATATYPES:
            close = np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True).reshape(len(got), -1).all(axis=1)
            both = np.abs(got.astype(np.float64) - want.astype(np.float64))
            worst = float(np.nanmax(both)) if both.size else 0.0
            measured[spec.name] = (int((~close).sum()), worst)
        else:
            equal = np.asarray(got == want).reshape(len(got), -1).all(axis=1)
            measured[spec.name] = (int((~equal).sum()), None)
    return measured


def compare_outputs(
    candidate: dict[str, np.ndarray], reference: dict[str, np.ndarray], specs: tuple[OutputSpec, ...]
) -> list[str]:
    """Differences between two runtimes' conformed outputs; empty when they agree.

    Float outputs must be within RTOL/ATOL; every other datatype (labels) must be equal.
    """
    problems = []
    for spec in specs:
        got, want = candidate[spec.name], reference[spec.name]
        if got.shape != want.shape:
            problems.append(f"{spec.name}: shape {got.shape} vs {want.shape}")
        elif spec.datatype in FLOAT_DATATYPES:
            close = np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
            if not close.all():
                worst = float(np.nanmax(np.abs(got.astype(np.float64) - want.astype(np.float64))))
                problems.append(f"{spec.name}: {int((~close).sum())} values outside tolerance, max |diff| {worst:.3g}")
        else:
            equal = got == want
            if not np.all(equal):
                rows_differing = np.flatnonzero(~equal.reshape(len(equal), -1).all(axis=1))
                first = int(rows_differing[0])
                problems.append(
                    f"{spec.name}: differs on {len(rows_differing)}/{len(got)} rows "
                    f"(first row {first}: {got[first]!r} vs {want[first]!r})"
                )
    return problems
