"""Limits: 413 for size (exactly at the byte limit passes), 504 when a prediction is late.
Admission (503 + Retry-After before the body is read) is in test_admission.py."""

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
        asyncio.run(small_limits.app._read_body(receive))


def test_too_many_rows_is_413(small_limits):
    response = small_limits.client.post("/predict", json={"instances": [ROW] * 11})
    assert response.status_code == 413
    assert "11 rows" in response.json()["error"] and "max_rows_per_request is 10" in response.json()["error"]
    assert small_limits.client.post("/predict", json={"instances": [ROW] * 10}).status_code == 200


def _padded(rows: int, size: int) -> bytes:
    """A valid /predict body of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = b'{"instances": [' + b",".join([b"[1, 2, 3, 4]"] * rows) + b"]}"
    assert len(body) <= size
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_passes_and_one_byte_more_is_413(small_limits, chunked):
    def post(body: bytes) -> httpx.Response:
        content = iter([body[:700], body[700:]]) if chunked else body  # a generator: no Content-Length
        return small_limits.client.post("/predict", content=content, headers={"content-type": "application/json"})

    at_limit = post(_padded(2, 2000))
    assert at_limit.status_code == 200 and at_limit.json()["predictions"] == [30.0, 30.0]
    over = post(_padded(2, 2001))
    assert over.status_code == 413 and "max_body_bytes (2000)" in over.json()["error"]


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
