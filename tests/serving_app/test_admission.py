"""Admission: past its limits a request is refused at once with 503 + Retry-After, decided from
its headers before its body is read; admitted requests all succeed; readiness stays 200.

First the decisions alone (plain objects), then bursts over real HTTP against a model a test
holds busy, so "at once" means "while the admitted requests are still inside the model"."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from serving_app import admission
from serving_app.admission import Admission
from tests.serving_app.conftest import serve
from tests.serving_app.fakes import FakeModel, expected_score


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _admission(**overrides) -> Admission:
    options = {"max_concurrent_requests": 2, "max_queued_rows": 100, "max_queued_bytes": 10_000,
               "max_rows_per_request": 50, "max_body_bytes": 5_000, "max_queue_wait_s": 60.0,
               "queue_wait_target_s": 60.0, "timeout_s": 60.0,
               "n_features": 5, "seconds_per_row": lambda: 0.0, "model_rows": lambda: 0,
               "clock": Clock()} | overrides
    return Admission(**options)


def scenario(coroutine_function):
    """Run an async test body (waiting needs a running event loop)."""
    return asyncio.run(asyncio.wait_for(coroutine_function(), 20))


def test_past_the_concurrency_limit_requests_wait_in_arrival_order_for_room():
    async def body():
        gate = _admission()
        first, second = gate.admit(10), gate.admit(10)
        waiting = [gate.admit(10) for _ in range(3)]
        assert all(isinstance(future, asyncio.Future) for future in waiting)
        assert (gate.processing, gate.in_flight, len(gate.waiting)) == (2, 5, 3)
        gate.release(first)
        assert waiting[0].done() and not waiting[1].done()  # the oldest gets the room
        gate.release(second)
        assert waiting[1].done() and not waiting[2].done()
        for ticket in [waiting[0].result(), waiting[1].result()]:
            gate.release(ticket)
        gate.release(waiting[2].result())
        assert (gate.processing, gate.rows, gate.bytes, gate.in_flight) == (0, 0, 0, 0)

    scenario(body)


def test_a_request_expected_to_wait_past_the_budget_is_refused_at_once():
    async def body():
        clock = Clock()
        gate = _admission(queue_wait_target_s=0.3, clock=clock)
        for _ in range(3):  # requests take 0.1 s to process
            ticket = gate.admit(10)
            clock.now += 0.1
            gate.release(ticket)
        assert gate.service_s == pytest.approx(0.1)
        gate.admit(10), gate.admit(10)  # two processed at once: one finishes every 0.05 s
        waiting = [gate.admit(10) for _ in range(6)]  # the 6th would wait 6 x 0.05 = 0.3 s: in time
        assert all(isinstance(future, asyncio.Future) for future in waiting)
        assert gate.admit(10) == admission.QUEUE_WAIT  # 0.35 s

    scenario(body)


def test_without_a_wait_budget_whatever_does_not_fit_is_refused():
    async def body():
        gate = _admission(max_queue_wait_s=0.0)
        gate.admit(10), gate.admit(10)
        assert gate.admit(10) == admission.QUEUE_WAIT and not gate.waiting

    scenario(body)


def test_rows_are_counted_by_declared_size_then_by_the_real_count():
    async def body():
        gate = _admission(max_concurrent_requests=10, max_rows_per_request=80)  # 5 features: 10 bytes a row
        big = gate.admit(400)  # 40 rows declared
        assert big.rows == 40 and gate.rows == 40
        assert isinstance(gate.admit(700), asyncio.Future)  # 40 + 70 > 100: waits, unread
        gate.waiting.clear()
        gate.resize(big, 8, 400)  # parsed: 8 rows of 50 bytes each
        assert gate.rows == 8 and gate.bytes_per_row == pytest.approx(10 + 0.1 * (50 - 10))
        second = gate.admit(700)  # 700 / 14 bytes per row = 50 rows: fits beside 8
        assert second.rows == 50 and gate.rows == 58

    scenario(body)


def test_bodies_past_the_byte_budget_wait_whatever_their_rows_and_nobody_overtakes():
    async def body():
        gate = _admission(max_concurrent_requests=10, max_queued_rows=10**7, max_rows_per_request=10**6)
        first = gate.admit(6_000)
        big = gate.admit(4_001)  # 10,001 bytes: waits
        small = gate.admit(10)  # would fit, but arrives after a waiting request
        assert isinstance(big, asyncio.Future) and isinstance(small, asyncio.Future)
        gate.release(first)
        assert big.done() and small.done() and gate.bytes == 4_011

    scenario(body)


def test_a_lone_request_always_enters_whatever_its_size():
    async def body():
        gate = _admission(max_queued_rows=10, max_queued_bytes=10)
        lone = gate.admit(None)  # no length: counted as max_rows_per_request and max_body_bytes
        assert isinstance(lone, admission.Ticket) and (lone.rows, lone.size) == (50, 5_000)

    scenario(body)


def test_rows_that_would_not_finish_within_the_timeout_are_refused():
    async def body():
        queued = [0]
        gate = _admission(timeout_s=1.0, seconds_per_row=lambda: 0.05, model_rows=lambda: queued[0])
        gate.admit(100)  # 10 rows; nothing else processed: always enters
        queued[0] = 10
        assert isinstance(gate.admit(100), admission.Ticket)  # 20 rows for the model: 1.0 s, just in time
        queued[0] = 20
        assert gate.admit(10) == admission.REQUEST_TIMEOUT  # 21 rows: 1.05 s

    scenario(body)


def test_waiting_requests_that_get_no_room_within_the_timeout_are_refused():
    async def body():
        gate = _admission(timeout_s=0.05)
        gate.admit(10), gate.admit(10)  # and never released: the model hangs
        waiting = gate.admit(10)
        assert await waiting == admission.QUEUE_WAIT
        assert not gate.waiting

    scenario(body)


# --- over HTTP ---------------------------------------------------------------------------------

ROW = [1.0, 2.0, 3.0, 4.0]


# Held batches run on the model worker thread (max_inline_batch_ms=0): held on the event loop,
# a batch would hold the whole server, which is why only a model measured fast runs there.
HELD = {"max_inline_batch_ms": 0}


@pytest.fixture
def held_model():
    """A fake model the test holds busy: predict waits for `gate` (open during the warm-up)."""
    gate = threading.Event()
    gate.set()
    model = FakeModel(gate=gate)
    yield model
    gate.set()


def _hold(model: FakeModel) -> None:
    model.gate.clear()
    model.entered.clear()


async def _until(condition, timeout_s: float = 10) -> None:
    async def poll():
        while not condition():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout_s)


def test_a_burst_beyond_what_can_wait_is_refused_at_once_and_readiness_stays_200(held_model):
    # No waiting allowed: 8 requests are processed, the other 32 are refused while those 8 are
    # still held inside the model, so "at once" cannot mean "after the model answered".
    with serve(held_model, **HELD, max_concurrent_requests=8, max_queue_wait_ms=0,
               max_batch_wait_ms=0) as running:
        _hold(held_model)

        async def scenario():
            limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
            async with httpx.AsyncClient(base_url=running.url, timeout=30, limits=limits) as client:
                rows = [[i, 0.5, -i, 2.0] for i in range(40)]
                burst = [asyncio.create_task(client.post("/predict", json={"instances": [row]})) for row in rows]
                await _until(lambda: sum(task.done() for task in burst) == 32)
                refused = [task.result() for task in burst if task.done()]
                assert running.app.plane.admission.processing == 8 and held_model.entered.is_set()
                probes = [await client.get(path) for path in ("/v2/health/ready", "/ping", "/v2/health/live")]
                metrics = (await client.get("/metrics")).text
                held_model.gate.set()
                answered = await asyncio.gather(*burst)
                return rows, refused, probes, metrics, answered

        rows, refused, probes, metrics, answered = asyncio.run(scenario())
        assert [probe.status_code for probe in probes] == [200, 200, 200]
        assert {response.status_code for response in refused} == {503}
        assert {response.headers["retry-after"] for response in refused} == {"1"}
        assert "max_queue_wait_ms (0 ms)" in refused[0].json()["error"]
        assert "mlserve_requests_in_flight 8.0" in metrics
        admitted = [(row, response) for row, response in zip(rows, answered) if response.status_code == 200]
        assert len(admitted) == 8
        for row, response in admitted:
            assert response.json()["predictions"] == [pytest.approx(expected_score(row))]
        assert running.metric("mlserve_admission_refused_total", reason="queue_wait") == 32
        assert running.metric("mlserve_requests_total", route="/predict", status="503") == 32
        assert running.app.plane.admission.in_flight == 0


def test_a_burst_that_can_be_served_in_time_waits_unparsed_and_is_answered_in_order(held_model):
    with serve(held_model, **HELD, max_concurrent_requests=4, max_queue_wait_ms=60_000, max_batch_size=4,
               max_batch_wait_ms=0) as running:
        gate = running.app.plane.admission
        _hold(held_model)

        async def scenario():
            limits = httpx.Limits(max_connections=30, max_keepalive_connections=30)
            async with httpx.AsyncClient(base_url=running.url, timeout=30, limits=limits) as client:
                burst = []
                for i in range(20):
                    burst.append(asyncio.create_task(client.post("/predict", json={"instances": [[i, 0, 0, 0]]})))
                    await _until(lambda: gate.in_flight == len(burst))  # arrival order is the test's order
                assert (gate.processing, len(gate.waiting)) == (4, 16)
                probe = await client.get("/v2/health/ready")
                metrics = (await client.get("/metrics")).text
                held_model.batches.clear()
                held_model.gate.set()
                return probe, metrics, await asyncio.gather(*burst)

        probe, metrics, answered = asyncio.run(scenario())
        assert probe.status_code == 200
        assert "mlserve_requests_waiting 16.0" in metrics and "mlserve_requests_in_flight 20.0" in metrics
        assert [response.json()["predictions"] for response in answered] == [[float(i)] for i in range(20)]
        # Processed 4 at a time, oldest first: the waiting ones entered as room came.
        assert sum(held_model.batches) == 19 and max(held_model.batches) <= 4


def _send_headers_only(url: str, path: str, content_length: int) -> bytes:
    """POST with a declared body that never comes: only an answer decided from the headers returns."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {content_length}\r\n\r\n".encode())
        return sock.recv(4096)


def test_large_requests_count_by_declared_size_before_their_body_arrives(held_model):
    with serve(held_model, **HELD, max_rows_per_request=100, max_queued_rows=200, max_batch_size=100,
               max_queue_wait_ms=0, max_batch_wait_ms=0) as running:
        body = httpx.Request("POST", "/", json={"instances": [ROW] * 100}).content
        for _ in range(30):  # teach admission the real bytes per row
            assert running.client.post("/predict", json={"instances": [ROW] * 100}).status_code == 200
        _hold(held_model)

        async def scenario():
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
                admitted = [asyncio.create_task(client.post("/predict", json={"instances": [ROW] * 100}))
                            for _ in range(2)]
                await _until(lambda: running.app.plane.admission.processing == 2 and held_model.entered.is_set())
                # A third 100-row request does not fit beside the two: refused on its headers alone.
                refused = await asyncio.to_thread(_send_headers_only, running.url, "/predict", len(body))
                oversized = await asyncio.to_thread(_send_headers_only, running.url, "/predict", 5000 * 1024)
                held_model.gate.set()
                return await asyncio.gather(*admitted), refused, oversized

        admitted, refused, oversized = asyncio.run(scenario())
        assert [response.status_code for response in admitted] == [200, 200]
        assert refused.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in refused.lower()
        assert oversized.startswith(b"HTTP/1.1 413 ")  # over max_body_bytes: the client must cut it, not retry
        assert running.metric("mlserve_admission_refused_total", reason="queue_wait") == 1


def test_admitted_requests_count_by_their_real_rows_once_parsed(held_model):
    # 4 features: a single-row body of ~38 bytes is first estimated at 5 rows (8 bytes a row).
    with serve(held_model, **HELD, max_queued_rows=10, max_rows_per_request=10, max_batch_wait_ms=0) as running:
        _hold(held_model)
        gate = running.app.plane.admission

        async def scenario():
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
                sent = []
                for count in range(1, 7):  # estimated at 5 rows each, only 2 would be processed at once
                    sent.append(asyncio.create_task(client.post("/predict", json={"instances": [ROW]})))
                    await _until(lambda: gate.processing == count and gate.rows == count)
                held_model.gate.set()
                return await asyncio.gather(*sent)

        answers = asyncio.run(scenario())
        assert [answer.status_code for answer in answers] == [200] * 6
        assert (gate.in_flight, gate.rows) == (0, 0)


def test_a_request_that_is_not_admitted_is_never_parsed(held_model):
    with serve(held_model, **HELD, max_concurrent_requests=1, max_queue_wait_ms=0,
               max_batch_wait_ms=0) as running:
        _hold(held_model)

        async def scenario():
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
                first = asyncio.create_task(client.post("/predict", json={"instances": [ROW]}))
                await _until(held_model.entered.is_set)
                broken = await client.post("/predict", content=b"{not json",
                                           headers={"content-type": "application/json"})
                held_model.gate.set()
                return await first, broken

        first, broken = asyncio.run(scenario())
        assert first.status_code == 200
        assert broken.status_code == 503  # not 400: its body was never looked at


def test_requests_are_refused_while_not_ready_before_their_body_is_read(held_model):
    with serve(held_model, **HELD) as running:
        running.app.plane.drain()
        answer = _send_headers_only(running.url, "/invocations", 100)
        assert answer.startswith(b"HTTP/1.1 503 ") and b"shutting down" in answer


class HeldThenSlow(FakeModel):
    """The next call after `hold()` waits for `release`; every call after that takes 0.8 s."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self._held = self._slow = False

    def hold(self) -> None:
        self._held = True

    def predict(self, rows):
        if self._held:
            self._held, self._slow = False, True
            self.entered.set()
            assert self.release.wait(30)
        elif self._slow:
            time.sleep(0.8)
        return super().predict(rows)


def test_the_request_timeout_counts_from_arrival_waiting_included():
    # One request at a time. The second waits 0.5 s for room, then needs 0.8 s in the model: its
    # 1 s from arrival run out inside the model, so it gets the server's 504, not a late 200.
    model = HeldThenSlow()
    with serve(model, **HELD, max_concurrent_requests=1, request_timeout_s=1.0, max_queue_wait_ms=10_000,
               max_batch_wait_ms=0) as running:
        model.hold()

        async def scenario():
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
                first = asyncio.create_task(client.post("/predict", json={"instances": [ROW]}))
                await asyncio.to_thread(model.entered.wait, 10)
                second = asyncio.create_task(client.post("/predict", json={"instances": [ROW]}))
                await _until(lambda: len(running.app.plane.admission.waiting) == 1)
                await asyncio.sleep(0.5)
                model.release.set()
                return await first, await second

        first, second = asyncio.run(scenario())
        assert first.status_code == 200
        assert second.status_code == 504 and "1 s" in second.json()["error"]
