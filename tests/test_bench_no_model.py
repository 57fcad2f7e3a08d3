"""bench/baselines/mlserve_no_model.py: mlserve's app with the model taken out, the floor the
bench reports beside the hello-world ratio. It must keep everything but the model (validation,
admission, metrics) and never call the model after start."""

from __future__ import annotations

import asyncio

import httpx

from bench.baselines.mlserve_no_model import without_model
from serving_app.app import create_app
from serving_app.settings import Settings
from tests.serving_app.fakes import FakeModel, expected_score


def test_without_model_answers_the_start_answer_keeps_validation_and_never_calls_the_model():
    model = FakeModel()
    app = without_model(create_app(Settings(), model))

    async def scenario():
        await app.plane.start()
        calls = len(model.batches)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            good = await client.post("/predict", json={"instances": [[1.0, 2.0, 3.0, 4.0]]})
            bad = await client.post("/predict", json={"instances": [[1.0, 2.0]]})
        await app.plane.stop()
        return calls, good, bad

    calls, good, bad = asyncio.run(scenario())
    assert good.status_code == 200
    # The answer for a row of zeros, whatever was sent: the model is out of the path.
    assert good.json()["predictions"] == [expected_score([0.0] * 4)] != [expected_score([1.0, 2.0, 3.0, 4.0])]
    assert len(model.batches) == calls  # no model call after the start
    assert bad.status_code == 400 and "4 features" in bad.json()["error"]
    assert b'mlserve_requests_total{route="/predict",status="200"} 1.0' in app.metrics.render()
