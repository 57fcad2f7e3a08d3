"""Metrics, request ids, structured logs and readiness."""

from __future__ import annotations

import logging

import orjson
import pytest

from serving_app.logs import JsonFormatter, ModelContext
from tests.serving_app.conftest import serve
from tests.serving_app.fakes import NAME, VERSION, FakeModel

ROW = [1, 2, 3, 4]

EXPECTED_METRICS = {
    "mlserve_requests_total": "counter",
    "mlserve_request_duration_seconds": "histogram",
    "mlserve_queue_wait_seconds": "histogram",
    "mlserve_inference_duration_seconds": "histogram",
    "mlserve_batch_size_rows": "histogram",
    "mlserve_batch_size_requests": "histogram",
    "mlserve_queue_depth_rows": "gauge",
    "mlserve_queue_depth_requests": "gauge",
    "mlserve_model_info": "gauge",
    "mlserve_model_load_seconds": "gauge",
    "mlserve_model_warmup_seconds": "gauge",
    "mlserve_ready": "gauge",
}


def test_metrics_exposed_with_expected_names_and_types(fake_server):
    fake_server.client.post("/predict", json={"instances": [ROW]})
    text = fake_server.client.get("/metrics").text
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE"))
    for name, kind in EXPECTED_METRICS.items():
        family = name.removesuffix("_total").removesuffix("_info")
        assert types.get(family) == kind or types.get(name) == kind, f"{name} ({kind}) missing"
    assert f'mlserve_model_info{{framework="sklearn",name="{NAME}",runtime="fake",version="{VERSION}"}} 1.0' in text
    assert "mlserve_ready 1.0" in text


def test_stage_histograms_and_batch_sizes_count_requests(fake_server):
    before = {name: fake_server.metric(name) for name in (
        "mlserve_queue_wait_seconds_count", "mlserve_inference_duration_seconds_count",
        "mlserve_batch_size_rows_sum")}
    fake_server.client.post("/predict", json={"instances": [ROW, ROW, ROW]})
    assert fake_server.metric("mlserve_queue_wait_seconds_count") == before["mlserve_queue_wait_seconds_count"] + 1
    assert fake_server.metric("mlserve_inference_duration_seconds_count") == (
        before["mlserve_inference_duration_seconds_count"] + 1)
    assert fake_server.metric("mlserve_batch_size_rows_sum") == before["mlserve_batch_size_rows_sum"] + 3
    assert fake_server.metric("mlserve_request_duration_seconds_count", route="/predict") >= 1


def test_unknown_paths_share_one_metrics_label(fake_server):
    for path in ("/a", "/b", "/c"):
        fake_server.client.get(path)
    assert fake_server.metric("mlserve_requests_total", route="unmatched", status="404") >= 3


def test_request_id_is_echoed(fake_server):
    response = fake_server.client.post("/predict", json={"instances": [ROW]}, headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    error = fake_server.client.post("/predict", content=b"{", headers={"x-request-id": "bad-1"})
    assert error.headers["x-request-id"] == "bad-1"


@pytest.mark.parametrize("unfit", ["x" * 201, "has space", "caf\u00e9"])
def test_unfit_request_id_is_replaced_not_echoed(fake_server, unfit):
    response = fake_server.client.get("/ping", headers={"x-request-id": unfit.encode("latin-1")})
    assert response.status_code == 200
    assert response.headers["x-request-id"] not in ("", unfit)


def test_request_id_is_generated_unique_when_absent(fake_server):
    ids = {fake_server.client.get("/ping").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20 and all(ids)


def test_successful_requests_log_nothing_at_info(fake_server, caplog):
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            fake_server.client.post("/predict", json={"instances": [ROW]})
    assert [r for r in caplog.records if r.name.startswith("serving_app")] == []


def test_failures_log_with_request_id(caplog):
    class Broken(FakeModel):
        def predict(self, rows):
            if rows[0, 0] == 666:
                raise RuntimeError("model bug")
            return super().predict(rows)

    with serve(Broken()) as running, caplog.at_level(logging.DEBUG):
        response = running.client.post("/predict", json={"instances": [[666, 0, 0, 0]]},
                                        headers={"x-request-id": "req-666"})
        assert response.status_code == 500
        assert "model failed" in response.json()["error"]
        assert running.client.post("/predict", json={"instances": [ROW]}).status_code == 200
    answered = [r for r in caplog.records if getattr(r, "request_id", None) == "req-666"]
    assert answered and answered[0].status == 500


def test_json_formatter_writes_one_object_per_line_with_context():
    context = ModelContext()
    context.fields.update({"model_name": NAME, "model_version": VERSION})
    record = logging.LogRecord("serving_app.app", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    record.request_id = "r-1"
    context.filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["message"] == "boom x" and entry["level"] == "ERROR"
    assert entry["request_id"] == "r-1" and entry["model_version"] == VERSION and entry["model_name"] == NAME
    assert entry["time"].endswith("+00:00")


@pytest.fixture
def draining_server():
    with serve(FakeModel()) as running:
        yield running


def test_draining_turns_readiness_off_and_refuses_new_work(draining_server):
    client = draining_server.client
    assert client.get("/ping").status_code == 200
    draining_server.app.plane.drain()
    for path in ("/ping", "/v2/health/ready", f"/v2/models/{NAME}/ready"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.json() == {"error": "server is shutting down"}
    refused = client.post("/predict", json={"instances": [ROW]})
    assert refused.status_code == 503 and "shutting down" in refused.json()["error"]
    assert client.get("/v2/health/live").status_code == 200  # alive, just not taking work
    assert draining_server.metric("mlserve_ready") == 0


def test_readiness_is_503_until_the_warm_up_prediction_has_run():
    """uvicorn accepts no connection before the lifespan startup completes, so this drives the
    app's ASGI interface directly while the warm-up prediction is held inside the model."""
    import asyncio
    import threading

    from serving_app.app import create_app
    from serving_app.settings import Settings

    gate = threading.Event()
    model = FakeModel(gate=gate)
    app = create_app(Settings(), model)

    async def get(path: str) -> int:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
        return sent[0]["status"]

    async def scenario():
        lifespan_messages: asyncio.Queue = asyncio.Queue()
        await lifespan_messages.put({"type": "lifespan.startup"})
        replies = []

        async def reply(message):
            replies.append(message["type"])

        lifespan = asyncio.create_task(app({"type": "lifespan"}, lifespan_messages.get, reply))
        await asyncio.to_thread(model.entered.wait, 10)  # the warm-up prediction is inside the model
        during = [await get(path) for path in ("/ping", "/v2/health/ready", f"/v2/models/{NAME}/ready")]
        ready_metric = app.metrics.registry.get_sample_value("mlserve_ready")
        gate.set()
        while "lifespan.startup.complete" not in replies:
            await asyncio.sleep(0.01)
        after = [await get(path) for path in ("/ping", "/v2/health/ready", f"/v2/models/{NAME}/ready")]
        await lifespan_messages.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 10)
        return during, ready_metric, after

    during, ready_metric, after = asyncio.run(scenario())
    assert during == [503, 503, 503] and ready_metric == 0
    assert after == [200, 200, 200] and model.batches == [1]  # ready after the one warm-up row ran
