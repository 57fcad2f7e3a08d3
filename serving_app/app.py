"""`create_app(settings, model)`: the ASGI application, with no module-level state.

A framework-free ASGI callable: at thousands of requests per second on one core the HTTP
layer, not the (batched) model, is the cost, so routing is a dict lookup, headers are read
in one pass, bodies are bytes handed to orjson, and each response is two ASGI messages.
This layer owns what every route shares: body limits, admission (every route that reads a
body is an inference route: it is taken, made to wait or refused with 503 by admission.py
from its headers, before its body is read), request ids, the error body, the request metrics,
and the lifespan (warm-up before traffic, worker stop after the drain).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any

import orjson

from serving_app import admission
from serving_app.admission import Ticket, current_ticket
from serving_app.dataplane import DataPlane
from serving_app.errors import (
    InvalidInput,
    MethodNotAllowed,
    NotReady,
    PayloadTooLarge,
    RouteNotFound,
    ServingError,
    http_headers,
    http_status,
)
from serving_app.metrics import METRICS_CONTENT_TYPE, Metrics
from serving_app.models.base import Model
from serving_app.protocols.common import JSON, Request, Response, Route
from serving_app.protocols.predict import PredictProtocol
from serving_app.protocols.sagemaker import SageMakerProtocol
from serving_app.protocols.v2 import V2Protocol
from serving_app.settings import Settings

logger = logging.getLogger(__name__)

_NO_PARAMS: dict[str, str] = {}
_UNMATCHED = "unmatched"  # metrics label for 404s, so random paths cannot explode label cardinality
_MAX_REQUEST_ID_BYTES = 200
_PRINTABLE = re.compile(rb"[\x21-\x7e]+")
_INTERNAL_ERROR = b'{"error":"internal server error; see the server log"}'
CLIENT_CLOSED = 499
"""The metrics' status for a request whose client left before its body was read (nginx's
"client closed request"): no answer goes out, and it is not the client's bad input."""
_CLIENT_GONE = Response(CLIENT_CLOSED, b"")
_RETRY_AFTER_S = admission.RETRY_AFTER_S
_RETRY_AFTER = [(b"retry-after", b"%d" % _RETRY_AFTER_S)]


class Router:
    """Exact paths by dict lookup (the hot routes); `{param}` templates by segment match."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[str, dict[str, Route]] = {}
        self._templates: dict[int, list[tuple[tuple[str, ...], dict[str, Route]]]] = {}
        self.routes = tuple(routes)
        for route in self.routes:
            if "{" not in route.path:
                self._exact.setdefault(route.path, {})[route.method] = route
                continue
            segments = tuple(route.path.split("/"))
            candidates = self._templates.setdefault(len(segments), [])
            for existing, methods in candidates:
                if existing == segments:
                    methods[route.method] = route
                    break
            else:
                candidates.append((segments, {route.method: route}))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and path parameters; RouteNotFound or MethodNotAllowed otherwise."""
        methods = self._exact.get(path)
        params = _NO_PARAMS
        if methods is None:
            methods, params = self._match_template(path)
        route = methods.get(method)
        if route is None:
            allowed = tuple(sorted(methods))
            raise MethodNotAllowed(f"{method} is not allowed on {path}; use {', '.join(allowed)}", allowed)
        return route, params

    def _match_template(self, path: str) -> tuple[dict[str, Route], dict[str, str]]:
        segments = path.split("/")
        for template, methods in self._templates.get(len(segments), ()):
            params = {}
            for pattern, segment in zip(template, segments):
                if pattern.startswith("{"):
                    if not segment:
                        break
                    params[pattern[1:-1]] = segment
                elif pattern != segment:
                    break
            else:
                return methods, params
        raise RouteNotFound(f"no route for {path}")


class ServingApp:
    """The ASGI callable. Build it with `create_app`; `plane` and `metrics` are exposed
    for the server (drain on SIGTERM) and for tests."""

    def __init__(self, settings: Settings, plane: DataPlane, metrics: Metrics, routes: Iterable[Route]) -> None:
        self.settings = settings
        self.plane = plane
        self.metrics = metrics
        self.router = Router(routes)
        self._max_body_bytes = settings.max_body_bytes
        self._request_id_prefix = os.urandom(6).hex().encode()  # tells this process's ids from another worker's
        self._request_numbers = itertools.count(1)
        # One prepared answer per refusal reason: under overload, refusing must cost next to nothing.
        self._refusals = {reason: Response(503, _error_body(f"server overloaded: {why}; retry after "
                                                              f"{_RETRY_AFTER_S} s"), JSON, _RETRY_AFTER)
                          for reason, why in _refusal_reasons(settings).items()}
        for route in self.router.routes:
            metrics.route_slot(route.path)  # the same slots, in the same order, in every worker

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # HTTP handled here rather than in a helper coroutine: each coroutine level costs its
        # request a resumption when the prediction comes back.
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        path = scope["path"]
        content_type = accept = ""
        request_id = content_length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = _media_type(value)
            elif name == b"content-length":
                content_length = value
            elif name == b"x-request-id":
                # Echoed in a header and in logs: printable ASCII only, bounded; else a new id.
                if 0 < len(value) <= _MAX_REQUEST_ID_BYTES and _PRINTABLE.fullmatch(value):
                    request_id = value
            elif name == b"accept":
                accept = _media_type(value) if b"," not in value else value.decode("latin-1").lower()
        if request_id is None:
            request_id = b"%s-%x" % (self._request_id_prefix, next(self._request_numbers))
        label = _UNMATCHED
        ticket = None
        try:
            route, params = self.router.match(method, path)
            label = route.path
            if route.reads_body:  # an inference route: admitted or refused before its body is read
                declared = self._declared_length(content_length)
                plane = self.plane
                if not plane.ready:
                    raise NotReady(plane.not_ready_reason())
                admitted = plane.admission.admit(declared, scope.get("client"))
                if type(admitted) is not int and type(admitted) is not Ticket:
                    admitted = await admitted  # waiting, unparsed, for room: a ticket or a refusal
                if type(admitted) is int:
                    response = self._refusals[admitted]
                    self.metrics.refused(admitted)
                else:
                    ticket = admitted
                    body = await self._read_body(receive)
                    if body is None:  # the client left while the request waited: nobody to answer
                        response = _CLIENT_GONE
                    else:
                        ticket.body_bytes = len(body)
                        current_ticket.set(ticket)
                        response = await route.handler(
                            Request(method, path, body, content_type, accept, request_id.decode("latin-1"), params))
            else:
                response = await route.handler(
                    Request(method, path, b"", content_type, accept, request_id.decode("latin-1"), params))
        except ServingError as error:
            response = self._error_response(error, request_id, method, path)
        except Exception:  # noqa: BLE001 - a bug must cost one 500, not the connection
            logger.exception("unhandled error", extra={"request_id": request_id.decode("latin-1"), "path": path})
            response = Response(500, _INTERNAL_ERROR)
        try:
            if response is not _CLIENT_GONE:  # a client that left gets nothing; its request is counted below
                body = response.body
                headers = [
                    (b"content-type", response.content_type),
                    (b"content-length", b"%d" % len(body)),
                    (b"x-request-id", request_id),
                ]
                if response.headers:
                    headers += response.headers
                await send({"type": "http.response.start", "status": response.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
        finally:
            if ticket is not None:
                self.plane.admission.release(ticket)
        self.metrics.request_done(label, response.status, time.perf_counter() - started)

    def _declared_length(self, content_length: bytes | None) -> int | None:
        """The declared body size; a body declared over the limit is refused before anything else."""
        if content_length is None:
            return None
        try:
            declared = int(content_length)
        except ValueError:
            raise InvalidInput("Content-Length is not a number") from None
        if declared > self._max_body_bytes:
            # Refused before reading: the client learns at once, the server buffers nothing.
            raise _BodyTooLarge(f"body of {declared} bytes is over max_body_bytes ({self._max_body_bytes})")
        return declared

    async def _read_body(self, receive: Any) -> bytes | None:
        """The whole body; None when the client disconnected before it was read (uvicorn then
        hands over no body, even one it had received whole)."""
        limit = self._max_body_bytes
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body = message.get("body", b"")
        # Counted in every message, the first too: uvicorn hands a chunked upload it buffered
        # before the app read it as one message, with no Content-Length to refuse it by.
        if len(body) > limit:
            raise _BodyTooLarge(f"body is over max_body_bytes ({limit})")
        if not message.get("more_body", False):
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):  # chunked upload: count as it arrives
            message = await receive()
            if message["type"] == "http.disconnect":
                return None  # left mid-upload
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge(f"body is over max_body_bytes ({limit})")
            chunks.append(chunk)
        return b"".join(chunks)

    def _error_response(self, error: ServingError, request_id: bytes, method: str, path: str) -> Response:
        status = http_status(error)
        headers = http_headers(error)
        if isinstance(error, _BodyTooLarge):
            headers.append((b"connection", b"close"))  # do not read the rest of a huge upload
        log = logger.warning if status == 504 else logger.error if status == 500 else logger.debug
        log("%s %s -> %d: %s", method, path, status, error.message,
            extra={"request_id": request_id.decode("latin-1"), "status": status})
        return Response(status, _error_body(error.message), JSON, headers)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.plane.start()
                except Exception as error:  # noqa: BLE001 - reported to the server, which exits
                    logger.exception("warm-up failed")
                    await send({"type": "lifespan.startup.failed", "message": f"warm-up failed: {error}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.plane.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _BodyTooLarge(PayloadTooLarge):
    """A body over the byte limit (the connection is closed after the 413)."""


def _refusal_reasons(settings: Settings) -> dict[int, str]:
    return {
        admission.QUEUE_WAIT: f"this request would wait longer than queue_wait_target_ms "
                              f"({min(settings.queue_wait_target_ms, settings.max_queue_wait_ms):g} ms) "
                              f"for the requests ahead of it, or waited max_queue_wait_ms "
                              f"({settings.max_queue_wait_ms:g} ms)",
        admission.REQUEST_TIMEOUT: "the rows queued for the model would not finish within request_timeout_s "
                                   f"({settings.request_timeout_s:g} s)",
    }


def _media_type(value: bytes) -> str:
    """b"Application/JSON; charset=utf-8" -> "application/json"."""
    if value == JSON:
        return "application/json"
    return value.split(b";", 1)[0].strip().lower().decode("latin-1")


def _error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def create_app(settings: Settings, model: Model, *, metrics: Metrics | None = None,
               load_seconds: float | None = None) -> ServingApp:
    """The ASGI app serving `model` with `settings`: SageMaker, V2 and /predict routes
    over one data plane, plus GET /metrics.

    The app is not ready until its lifespan startup ran the warm-up prediction.
    """
    metrics = metrics if metrics is not None else Metrics()
    metrics.set_model(model.metadata, load_seconds)
    plane = DataPlane(model, settings, metrics)
    routes: list[Route] = []
    for protocol in (SageMakerProtocol(plane), V2Protocol(plane), PredictProtocol(plane)):
        routes += protocol.routes()

    async def metrics_endpoint(request: Request) -> Response:
        return Response(200, metrics.render(), METRICS_CONTENT_TYPE.encode())

    routes.append(Route("GET", "/metrics", metrics_endpoint))
    return ServingApp(settings, plane, metrics, routes)
