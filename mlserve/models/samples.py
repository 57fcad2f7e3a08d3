"""Sample rows for `package`: a CSV or Parquet file the user names, or synthesized on request.

The rows are what `package` runs the model on to infer output types and shapes, and what it
compares the server's answers against; they are written into the artifact as `sample.json`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlserve.models.errors import BadInput

MAX_SAMPLE_ROWS = 64
"""Rows kept from a sample file: enough to type the outputs and compare answers, small on disk."""


@dataclass(frozen=True)
class Sample:
    """Rows (float64, one column per feature) and the column names they came with (None if synthesized)."""

    rows: np.ndarray
    columns: tuple[str, ...] | None


def read_sample(path: Path, *, drop_columns: tuple[str, ...] = ()) -> Sample:
    """The first MAX_SAMPLE_ROWS rows of a CSV (with a header) or Parquet file, numeric columns only.
    `drop_columns` (e.g. the label column) are left out."""
    if not path.is_file():
        raise BadInput(f"sample file {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns, table = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        columns, table = _read_parquet(path)
    else:
        raise BadInput(f"sample file {path}: expected a .csv or .parquet file")
    missing = [name for name in drop_columns if name not in columns]
    if missing:
        raise BadInput(f"sample file {path}: --drop-column {missing} not among its columns {list(columns)}")
    keep = [i for i, name in enumerate(columns) if name not in drop_columns]
    if not table or not keep:
        raise BadInput(f"sample file {path}: no rows or no feature columns")
    try:
        rows = np.array([[float(row[i]) for i in keep] for row in table], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"sample file {path}: every feature column must be numeric ({exc}); "
                       "drop label or id columns with --drop-column") from None
    return Sample(rows=rows, columns=tuple(columns[i] for i in keep))


def synthesize(n_features: int, n_rows: int = 32, *, seed: int = 0) -> Sample:
    """Standard normal rows: only when the user asked (`--synthesize-sample`), since a model may
    behave differently away from its training data."""
    return Sample(rows=np.random.default_rng(seed).standard_normal((n_rows, n_features)), columns=None)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise BadInput(f"sample file {path}: empty (a header row with the column names comes first)")
        rows = []
        for row in reader:
            if len(rows) == MAX_SAMPLE_ROWS:
                break
            if len(row) != len(header):
                raise BadInput(f"sample file {path}: row {len(rows) + 2} has {len(row)} fields, the header {len(header)}")
            rows.append(row)
    return [name.strip() for name in header], rows


def _read_parquet(path: Path) -> tuple[list[str], list[list[object]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path).slice(0, MAX_SAMPLE_ROWS)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise BadInput(f"sample file {path}: not a readable Parquet file ({exc})") from None
    columns = table.column_names
    data = [table.column(name).to_pylist() for name in columns]
    return list(columns), [list(row) for row in zip(*data, strict=True)]
