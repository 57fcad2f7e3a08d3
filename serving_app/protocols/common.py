"""What adapters share: the request and response they see, routes, and JSON helpers.

Deliberately not an ASGI or framework type: adapters are plain async functions from a
`Request` to a `Response`, testable without a server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from serving_app.errors import InvalidInput, UnsupportedMediaType

JSON = b"application/json"
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class Request:
    """One HTTP request as adapters see it; `content_type` and `accept` are lower-cased
    media types without parameters ("" when absent)."""

    __slots__ = ("method", "path", "body", "content_type", "accept", "request_id", "params")

    def __init__(self, method: str, path: str, body: bytes, content_type: str, accept: str, request_id: str,
                 params: dict[str, str]) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.content_type = content_type
        self.accept = accept
        self.request_id = request_id
        self.params = params


class Response:
    """Status, body and media type; `headers` holds any extra (name, value) pairs."""

    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status: int, body: bytes, content_type: bytes = JSON,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """`path` may hold `{param}` segments, passed to the handler in `Request.params`; the
    path template doubles as the metrics label, so label values stay few."""

    method: str
    path: str
    handler: Handler
    reads_body: bool = False


def json_response(payload: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    """A JSON response; numpy arrays in `payload` are written natively by orjson."""
    return Response(status, orjson.dumps(payload, option=_DUMPS_OPTIONS), JSON, headers)


def require_json(request: Request) -> None:
    """Refuse a body that does not say it is JSON (a missing Content-Type is taken as JSON)."""
    content_type = request.content_type
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type {content_type!r} is not supported here; send application/json")


def parse_json(body: bytes) -> Any:
    """The decoded body; InvalidInput (400) naming the problem if it is not JSON."""
    if not body:
        raise InvalidInput("request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"malformed JSON: {error}") from None
