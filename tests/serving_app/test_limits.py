"""Limits and backpressure: 413 for size, 503 + Retry-After when the queue is full (at
once, not after a timeout), 504 when a prediction is late."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.serving_app.conftest import serve
from tests.serving_app.fakes import FakeModel

ROW = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def small_limits():
    with serve(FakeModel(), max_body_bytes=2000, max_rows_per_request=10, max_queued_rows=100) as running:
        yield running


def test_body_over_limit_is_413_before_reading_it(small_limits):
    body = b'{"instances": [' + b",".join([b"[1, 2, 3, 4]"] * 300) + b"]}"
    response = small_limits.client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "max_body_bytes (2000)" in response.json()["error"]
    assert response.headers["connection"] == "close"
    assert small_limits.client.post("/predict", json={"instances": [ROW]}).status_code == 200


def test_chunked_body_over_limit_is_413(small_limits):
    def chunks():
        yield b'{"instances": ['
        for _ in range(300):
            yield b"[1, 2, 3, 4],"
        yield b"[1, 2, 3, 4]]}"

    response = small_limits.client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["error"]


def test_a_body_that_arrives_in_one_message_without_a_length_is_still_limited(small_limits):
    """uvicorn hands a chunked upload it buffered before the app read it as one message with no
    Content-Length (seen in CI as a row-limit 413 where the body limit should answer)."""
    from serving_app.errors import PayloadTooLarge

    async def receive():
        return {"type": "http.request", "body": b"[1, 2, 3, 4]," * 300, "more_body": False}

    with pytest.raises(PayloadTooLarge, match=r"max_body_bytes \(2000\)"):
        asyncio.run(small_limits.app._read_body(receive, None))


def test_too_many_rows_is_413(small_limits):
    response = small_limits.client.post("/predict", json={"instances": [ROW] * 11})
    assert response.status_code == 413
    assert "11 rows" in response.json()["error"] and "max_rows_per_request is 10" in response.json()["error"]
    assert small_limits.client.post("/predict", json={"instances": [ROW] * 10}).status_code == 200


def test_full_queue_is_immediate_503_with_retry_after():
    # One row per batch and 0.3 s per call: 1 request runs, 4 fill the queue, the 6th is refused.
    with serve(FakeModel(delay_s=0.3), max_batch_size=1, max_rows_per_request=4, max_queued_rows=4,
               max_batch_wait_ms=0) as running:

        batcher = running.app.plane.batcher

        async def until(condition):
            deadline = time.monotonic() + 10
            while not condition():
                assert time.monotonic() < deadline, "the batcher never reached the expected state"
                await asyncio.sleep(0.005)

        async def scenario():
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
                def post(i):
                    return asyncio.create_task(client.post("/predict", json={"instances": [[i, 0, 0, 0]]}))

                in_flight = [post(0)]
                await until(lambda: batcher.busy)  # the first one is in the model
                in_flight += [post(i) for i in range(1, 5)]
                await until(lambda: batcher.queued_rows == 4)
                started = time.perf_counter()
                refused = await client.post("/predict", json={"instances": [ROW]})
                refused_after = time.perf_counter() - started
                return refused, refused_after, await asyncio.gather(*in_flight)

        refused, refused_after, accepted = asyncio.run(scenario())
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "overloaded" in refused.json()["error"]
        assert refused_after < 0.25  # refused at once, not after waiting for the model
        assert [r.status_code for r in accepted] == [200] * 5
        assert running.metric("mlserve_requests_total", route="/predict", status="503") == 1


def test_late_prediction_is_504_and_server_recovers():
    with serve(FakeModel(delay_s=0.6), request_timeout_s=0.2) as running:
        started = time.perf_counter()
        response = running.client.post("/predict", json={"instances": [ROW]})
        elapsed = time.perf_counter() - started
        assert response.status_code == 504
        assert "no prediction within 0.2 s" in response.json()["error"]
        assert elapsed < 0.5
        time.sleep(0.5)  # the model finishes the late batch; its answer is dropped
        assert running.client.get("/ping").status_code == 200
