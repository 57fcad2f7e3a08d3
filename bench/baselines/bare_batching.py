"""The hello-world ratio's ceiling for any batching server: mlserve's answer with nothing else.

    python -m bench.baselines.bare_batching --model DIR --host 127.0.0.1 --port 8000

The least a micro-batching `/predict` can do on mlserve's server stack and still give
mlserve's answer: read the body, parse the JSON, queue the rows, run every request queued in
one event-loop tick as one model call, answer. The batch runs mlserve's own batch function
(`DataPlane._run_batch`: one array, the finiteness check, the model, a slice per request)
and the answer is built by mlserve's own `/predict` adapter, so the body is byte for byte
the real server's. Everything else is left out: admission, routing, request ids, row
validation, metrics, error answers, the batch scheduler's hold and deadlines. A malformed
request breaks it: never serve it.

What this serves per second, over the hello-world app's, is the most the hello ratio can be
for a server that batches a model call (the request waits for its batch, a second step of the
event loop) and answers the model's full output: the bench reports it beside the ratio, and
mlserve's rate over it is what mlserve's own work costs (bench/README.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.baselines import hello_asgi
from bench.baselines.mlserve_stack import serve
from serving_app.dataplane import DataPlane
from serving_app.protocols.common import Request
from serving_app.protocols.predict import PredictProtocol


class BareBatcher:
    """Every request submitted within one event-loop step goes into one call of `run_batch`."""

    def __init__(self, plane: DataPlane) -> None:
        self._run_batch = plane._run_batch
        self._pending: list[tuple[Any, asyncio.Future]] = []

    def submit(self, rows: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._run)
        self._pending.append((rows, future))
        return future

    def _run(self) -> None:
        batch, self._pending = self._pending, []
        for (_, future), result in zip(batch, self._run_batch([rows for rows, _ in batch])):
            future.set_result(result)


def bare_app(plane: DataPlane) -> Any:
    """The ASGI app: a POST (to any path) is `/predict` on `plane`'s model, batched by BareBatcher."""
    plane.predict = BareBatcher(plane).submit  # type: ignore[method-assign]
    predict = PredictProtocol(plane).predict

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await hello_asgi.app(scope, receive, send)  # the lifespan, and GET (ready) as hello answers it
            return
        message = await receive()
        body = message["body"]
        while message.get("more_body"):
            message = await receive()
            body += message["body"]
        response = await predict(Request("POST", "/predict", body, "application/json", "", "", {}))
        headers = [(b"content-type", response.content_type), (b"content-length", b"%d" % len(response.body))]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    return app


def main() -> None:
    serve(__doc__.splitlines()[0], lambda app: bare_app(app.plane))


if __name__ == "__main__":
    main()
