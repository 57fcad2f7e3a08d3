"""bench/baselines/bare_batching.py: the least batching server giving mlserve's answer, the
ceiling the bench reports beside the hello-world ratio. Its answers must be mlserve's, byte for
byte, and requests that arrive in one event-loop step must share one model call."""

from __future__ import annotations

import asyncio

import httpx

from bench.baselines.bare_batching import bare_app
from serving_app.app import create_app
from serving_app.settings import Settings
from tests.serving_app.fakes import FakeModel

ROWS = [[[1.0, 2.0, 3.0, 4.0]], [[0.5, -1.0, 2.0, 8.0], [3.0, 3.0, 3.0, 3.0]], [[-2.0, 0.0, 1.5, 9.0]]]


def _post_all(app, bodies):
    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(client.post("/predict", json={"instances": rows}) for rows in bodies))

    return asyncio.run(scenario())


def test_the_bare_app_answers_what_mlserve_answers_with_concurrent_requests_in_one_model_call():
    real = create_app(Settings(), FakeModel())

    async def served():
        await real.plane.start()
        transport = httpx.ASGITransport(app=real)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = [await client.post("/predict", json={"instances": rows}) for rows in ROWS]
        await real.plane.stop()
        return answers

    expected = asyncio.run(served())
    model = FakeModel()
    bare = bare_app(create_app(Settings(), model).plane)
    answers = _post_all(bare, ROWS)
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer.content for answer in answers] == [answer.content for answer in expected]
    assert b'"score"' not in answers[0].content and b'"predictions":[30.0]' in answers[0].content
    assert model.batches == [4]  # the three requests, four rows, in one call: no warm-up, no hold


def test_the_bare_app_answers_a_get_and_runs_the_lifespan_as_the_hello_app_does():
    bare = bare_app(create_app(Settings(), FakeModel()).plane)

    async def scenario():
        transport = httpx.ASGITransport(app=bare)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/")

    assert asyncio.run(scenario()).status_code == 200  # the bench's readiness probe
