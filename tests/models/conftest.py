"""Trained models of each kind `package` reads, and sample rows, built once per test process."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

N_FEATURES = 5
COLUMNS = [f"x{i}" for i in range(N_FEATURES)]


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    features = rng.standard_normal((300, N_FEATURES))
    classes = (features[:, 0] + features[:, 1] > 0).astype(int) + (features[:, 2] > 1)
    target = features @ np.arange(1, N_FEATURES + 1) + 0.1 * rng.standard_normal(300)
    return features, classes, target


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory, data) -> Path:
    """40 rows with a header and a `label` column that is no feature."""
    features, classes, _ = data
    path = tmp_path_factory.mktemp("samples") / "rows.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, "label"])
        for row, label in zip(features[:40], classes[:40], strict=True):
            writer.writerow([repr(float(v)) for v in row] + [int(label)])
    return path
