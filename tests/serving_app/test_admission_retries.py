"""Admission against clients that do not wait as told: a connection refused less than
Retry-After ago waits its turn instead of being refused again (refusing it would shed nothing
and spend the CPU on refusals), and no request waits longer than `max_queue_wait_ms`."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from serving_app import admission
from tests.serving_app.conftest import serve
from tests.serving_app.fakes import expected_score
from tests.serving_app.test_admission import HELD, Clock, _admission, _hold, _until, held_model, scenario

__all__ = ["held_model"]  # the fixture, imported for the test below


def _busy_gate(clock: Clock, **overrides) -> admission.Admission:
    """Two requests processed (the limit), and a service time learnt: whatever else comes is
    expected to wait 0.05 s, past a target of 0."""
    gate = _admission(queue_wait_target_s=0.0, clock=clock, **overrides)
    for _ in range(2):
        ticket = gate.admit(10)
        clock.now += 0.1
        gate.release(ticket)
    gate.admit(10), gate.admit(10)
    return gate


def test_a_connection_refused_less_than_retry_after_ago_waits_instead_of_being_refused_again():
    async def body():
        clock = Clock()
        gate = _busy_gate(clock)
        assert gate.admit(10, "a") == admission.QUEUE_WAIT  # first refusal on connection a
        clock.now += admission.RETRY_AFTER_S - 0.01
        retried = gate.admit(10, "a")  # back before its Retry-After: it waits
        assert isinstance(retried, asyncio.Future) and len(gate.waiting) == 1
        assert gate.admit(10, "b") == admission.QUEUE_WAIT  # another connection: refused
        assert gate.admit(10, None) == admission.QUEUE_WAIT  # an unknown one: never taken for a retry
        clock.now += 0.01  # a full Retry-After since a's refusal: a new refusal
        assert gate.admit(10, "a") == admission.QUEUE_WAIT

    scenario(body)


def test_refused_connections_are_forgotten_after_retry_after():
    async def body():
        clock = Clock()
        gate = _busy_gate(clock)
        for port in range(500):
            assert gate.admit(10, ("10.0.0.1", port)) == admission.QUEUE_WAIT
        clock.now += admission.RETRY_AFTER_S
        assert gate.admit(10, ("10.0.0.2", 1)) == admission.QUEUE_WAIT
        assert len(gate._refused_at) == 1  # a connection churn cannot grow it without bound

    scenario(body)


def test_no_request_waits_longer_than_max_queue_wait_even_with_a_longer_timeout():
    async def body():
        gate = _admission(max_queue_wait_s=0.05, queue_wait_target_s=0.05, timeout_s=60.0)
        gate.admit(10), gate.admit(10)  # and never released: the model hangs
        started = time.monotonic()
        assert await gate.admit(10) == admission.QUEUE_WAIT
        assert 0.04 <= time.monotonic() - started < 5  # refused at 0.05 s, not at the 60 s timeout
        assert not gate.waiting

    scenario(body)


def test_over_http_a_client_retrying_at_once_waits_and_is_answered(held_model):
    with serve(held_model, **HELD, max_concurrent_requests=2, queue_wait_target_ms=0, max_queue_wait_ms=60_000,
               max_batch_wait_ms=0) as running:
        gate = running.app.plane.admission
        body = {"instances": [[1.0, 2.0, 3.0, 4.0]]}

        async def scenario():
            one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            async with (httpx.AsyncClient(base_url=running.url, timeout=30) as held,
                        httpx.AsyncClient(base_url=running.url, timeout=30, limits=one) as impatient,
                        httpx.AsyncClient(base_url=running.url, timeout=30, limits=one) as other):
                for _ in range(2):  # the server learns how long a request takes
                    assert (await held.post("/predict", json=body)).status_code == 200
                _hold(held_model)
                busy = [asyncio.create_task(held.post("/predict", json=body)) for _ in range(2)]
                await _until(lambda: gate.processing == 2 and held_model.entered.is_set())
                first = await impatient.post("/predict", json=body)  # refused at once
                retry = asyncio.create_task(impatient.post("/predict", json=body))  # same connection, at once
                await _until(lambda: len(gate.waiting) == 1)
                stranger = await other.post("/predict", json=body)  # a fresh connection: refused
                held_model.gate.set()
                return first, await retry, stranger, await asyncio.gather(*busy)

        first, retry, stranger, busy = asyncio.run(scenario())
        assert (first.status_code, first.headers["retry-after"]) == (503, "1")
        assert stranger.status_code == 503
        assert retry.status_code == 200
        assert retry.json()["predictions"] == [pytest.approx(expected_score([1.0, 2.0, 3.0, 4.0]))]
        assert [response.status_code for response in busy] == [200, 200]
        assert running.metric("mlserve_admission_refused_total", reason="queue_wait") == 2


def test_a_request_whose_client_left_while_it_waited_is_counted_as_client_closed_not_bad_input(held_model):
    with serve(held_model, **HELD, max_concurrent_requests=1, max_queue_wait_ms=60_000, max_batch_wait_ms=0) as running:
        gate = running.app.plane.admission
        body = b'{"instances": [[1.0, 2.0, 3.0, 4.0]]}'
        _hold(held_model)

        async def scenario():
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
                busy = asyncio.create_task(client.post("/predict", content=body,
                                                       headers={"content-type": "application/json"}))
                await _until(lambda: gate.processing == 1 and held_model.entered.is_set())
                # A whole request, then the client leaves while it waits for room.
                reader, writer = await asyncio.open_connection(*running.url.removeprefix("http://").split(":"))
                writer.write(b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                await _until(lambda: len(gate.waiting) == 1)
                writer.close()
                await writer.wait_closed()
                await asyncio.sleep(0.05)  # the server sees the close
                held_model.gate.set()
                answered = await busy
                await _until(lambda: gate.in_flight == 0)
                return answered

        assert asyncio.run(scenario()).status_code == 200
        assert running.metric("mlserve_requests_total", route="/predict", status="499") == 1
        assert running.metric("mlserve_requests_total", route="/predict", status="400") in (None, 0)
        assert gate.processing == 0 and gate.rows == 0 and gate.bytes == 0  # its room was given back
