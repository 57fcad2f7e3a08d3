"""A deterministic fake model: each output is a function of its own row, so a test can
prove every caller got the answer for *its* rows, whatever batch they shared."""

from __future__ import annotations

import threading
import time

import numpy as np

from serving_app.models.base import ModelLoadError, ModelMetadata, OutputSpec

N_FEATURES = 4
NAME = "fake"
VERSION = "7"


def expected_score(row: list[float]) -> float:
    """The fake's primary output for one row: a weighted sum, distinct for distinct rows."""
    return float(sum((i + 1) * value for i, value in enumerate(row)))


class FakeModel:
    """Outputs: "score" (FP64, one per row) and "pair" (FP32, [row[0], 2 * row[1]])."""

    def __init__(self, delay_s: float = 0.0, n_features: int = N_FEATURES, gate: threading.Event | None = None) -> None:
        self.delay_s = delay_s
        self.gate = gate  # when given, each predict waits until it is set (a test holds the model busy)
        self.entered = threading.Event()  # set when a predict call has started
        self.batches: list[int] = []  # rows per predict call
        self.lock = threading.Lock()
        self.metadata = ModelMetadata(
            name=NAME, version=VERSION, framework="sklearn", n_features=n_features,
            feature_names=tuple(f"f{i}" for i in range(n_features)), input_dtype="float32",
            outputs=(OutputSpec("score", "FP64", ()), OutputSpec("pair", "FP32", (2,))),
            sha256="0" * 64, runtime="fake",
        )
        self._weights = np.arange(1, n_features + 1, dtype=np.float64)

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        assert rows.dtype == np.float32 and rows.ndim == 2
        with self.lock:
            self.batches.append(len(rows))
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        if self.delay_s:
            time.sleep(self.delay_s)
        score = rows.astype(np.float64) @ self._weights
        pair = np.stack([rows[:, 0], rows[:, 1] * 2], axis=1).astype(np.float32)
        return {"score": score, "pair": pair}


def load_fake(uri: str, *, cache_dir: str | None = None) -> FakeModel:
    """A `load_model` stand-in: "fake" or "fake:<delay seconds>"; anything else is a bad artifact."""
    if uri == "fake":
        return FakeModel()
    if uri.startswith("fake:"):
        return FakeModel(delay_s=float(uri.split(":", 1)[1]))
    raise ModelLoadError("model artifact not found", uri, "fakes only know 'fake' and 'fake:<delay>'")
