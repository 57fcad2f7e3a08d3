"""Domain errors and the one place they become HTTP statuses.

The data plane and the protocol adapters raise these; only `app.py` turns them into a
response, through `http_status` and `http_headers`, with a `{"error": "..."}` body (the
Open Inference Protocol V2 error shape, used by every route so clients parse one thing).
Client mistakes are 4xx, never 500: a 500 means the server or the model is broken.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base of every error the server answers with a status; `message` is what the client reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServingError):
    """The request is malformed or does not fit the model: bad JSON or CSV, wrong shape or
    feature count, a non-numeric or non-finite value, shape and data that disagree.

    400 for all of them (as KServe and SageMaker containers do) rather than splitting hairs
    between 400 and 422: either way the client must change the request."""


class UnsupportedMediaType(ServingError):
    """The Content-Type is not one the route reads."""


class PayloadTooLarge(ServingError):
    """The body is over `max_body_bytes`, or has more rows than `max_rows_per_request`.

    Too many rows is a 413 too: like an oversized body, it is a size the client must split."""


class NotAcceptable(ServingError):
    """The Accept header asks for a format the route cannot produce."""


class RouteNotFound(ServingError):
    """No route has this path."""


class ModelNotFound(ServingError):
    """The request names a model or version this server does not hold."""


class MethodNotAllowed(ServingError):
    """The path exists but not for this method; `allowed` goes into the Allow header."""

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class Overloaded(ServingError):
    """The queue already holds `max_queued_rows`: refused at once so the client (or the
    load balancer) retries elsewhere, instead of waiting into a timeout."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReady(ServingError):
    """The model is not warmed up yet, or the server is draining after SIGTERM."""


class PredictionTimeout(ServingError):
    """The prediction did not come back within `request_timeout_s`."""


class ModelFailed(ServingError):
    """The model raised on input that passed validation: a server-side fault."""


HTTP_STATUS: dict[type[ServingError], int] = {
    InvalidInput: 400,
    RouteNotFound: 404,
    ModelNotFound: 404,
    MethodNotAllowed: 405,
    NotAcceptable: 406,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ModelFailed: 500,
    Overloaded: 503,
    NotReady: 503,
    PredictionTimeout: 504,
}


def http_status(error: ServingError) -> int:
    """The HTTP status for a domain error (500 for a ServingError subclass not mapped)."""
    for cls in type(error).__mro__:
        status = HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return 500


def http_headers(error: ServingError) -> list[tuple[bytes, bytes]]:
    """Extra response headers an error carries: Retry-After on 503 overload, Allow on 405."""
    if isinstance(error, Overloaded):
        return [(b"retry-after", str(error.retry_after_s).encode())]
    if isinstance(error, NotReady):
        return [(b"retry-after", b"5")]
    if isinstance(error, MethodNotAllowed):
        return [(b"allow", ", ".join(error.allowed).encode())]
    return []
