"""The real demo model (random forest, served by ONNX Runtime) behind the real app: every
protocol answers what the model answers for the same rows, also under concurrency."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

from serving_app.models import load_model
from tests.serving_app.conftest import serve


@pytest.fixture(scope="module")
def demo(demo_artifact):
    model = load_model(str(demo_artifact))
    sample = json.loads((demo_artifact / "sample.json").read_text())["rows"]
    rng = np.random.default_rng(7)
    rows = sample + (rng.standard_normal((120, model.metadata.n_features)) * 3).astype(np.float32).tolist()
    expected = model.predict(np.array(rows, dtype=model.metadata.input_dtype))
    with serve(model) as running:
        yield running, model.metadata, rows, expected


def test_predict_answers_like_the_model(demo):
    server, meta, rows, expected = demo
    response = server.client.post("/predict", json={"instances": rows[:8]})
    answer = response.json()
    assert list(answer) == ["predictions", "probabilities", "model"]
    assert answer["predictions"] == expected["label"][:8].tolist()
    # FP32 written as the shortest text that reads back as the same float32
    np.testing.assert_array_equal(np.asarray(answer["probabilities"], dtype=np.float32), expected["probabilities"][:8])
    assert answer["model"] == {"name": meta.name, "version": meta.version}


def test_sagemaker_csv_answers_like_the_model(demo):
    server, _, rows, expected = demo
    csv = "\n".join(",".join(repr(v) for v in row) for row in rows[:8])
    response = server.client.post("/invocations", content=csv, headers={"content-type": "text/csv",
                                                                         "accept": "text/csv"})
    assert response.text.split() == [str(label) for label in expected["label"][:8]]


def test_v2_infer_answers_like_the_model(demo):
    server, meta, rows, expected = demo
    flat = [v for row in rows[:8] for v in row]
    body = {"inputs": [{"name": "input", "shape": [8, meta.n_features], "datatype": meta.input_datatype,
                        "data": flat}]}
    outputs = {o["name"]: o for o in server.client.post(f"/v2/models/{meta.name}/infer", json=body).json()["outputs"]}
    assert outputs["label"] == {"name": "label", "datatype": "INT64", "shape": [8],
                                "data": expected["label"][:8].tolist()}
    probabilities = outputs["probabilities"]
    assert probabilities["datatype"] == "FP32" and probabilities["shape"] == [8, 3]
    assert np.allclose(np.reshape(probabilities["data"], (8, 3)), expected["probabilities"][:8], atol=1e-6)


def test_concurrent_single_rows_each_get_their_own_label(demo):
    server, _, rows, expected = demo

    async def scenario():
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            return await asyncio.gather(*(client.post("/predict", json={"instances": [row]}) for row in rows))

    responses = asyncio.run(scenario())
    assert [r.json()["predictions"][0] for r in responses] == expected["label"].tolist()
