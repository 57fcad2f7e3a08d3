"""The floor of the hello-world ratio: mlserve's own app with the model taken out.

    python -m bench.baselines.mlserve_no_model --model DIR --host 127.0.0.1 --port 8000

Everything mlserve does for a single-row `/predict` runs as in the real server (uvicorn
configuration, routing, admission, request ids, JSON parsing, row validation, the JSON
answer, metrics), except the model: the batcher answers every request with the one answer the
model gave at start for one row, already resolved, so no batch, no model call and no wait
(single-row requests only: the bench sends nothing else).
What this serves per second, over the hello-world app's, is the most the hello-world ratio
can be with any model behind that HTTP path: the bench reports it beside the ratio
(bench/README.md). It answers wrong predictions on purpose: never serve it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from bench.baselines.mlserve_stack import serve
from serving_app.app import ServingApp
from serving_app.dataplane import DataPlane


def without_model(app: ServingApp) -> ServingApp:
    """`app` with its batcher answering every request at once with one constant answer:
    `DataPlane.predict` (readiness, row checks, admission's row count) runs as in the server."""
    plane: DataPlane = app.plane
    answer = plane._predict(np.zeros((1, plane.n_features), dtype=plane.input_dtype))

    def submit(payload: Any, rows: int, deadline: float | None = None) -> asyncio.Future:
        done = asyncio.get_running_loop().create_future()
        done.set_result(answer)
        return done

    plane.batcher.submit = submit  # type: ignore[method-assign]
    return app


def main() -> None:
    serve(__doc__.splitlines()[0], without_model)


if __name__ == "__main__":
    main()
