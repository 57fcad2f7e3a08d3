"""Admission: whether an inference request may enter, decided from its headers alone,
before its body is read or parsed.

A refusal costs a few microseconds and answers at once (503 + Retry-After): the client or
the load balancer retries elsewhere instead of waiting into its timeout, and the server
spends nothing parsing work it cannot do in time. Three limits, checked in this order:

1. `max_concurrent_requests`: inference requests admitted and not yet answered (being
   parsed, queued, in the model, being answered). Bounds the time an admitted request
   spends inside the server when the HTTP layer, not the model, is the bottleneck (many
   single-row requests).
2. `max_queued_rows`: rows admitted and not yet answered. A request counts by its declared
   size until it is parsed: Content-Length over the bytes per row seen so far (rounded up,
   at most `max_rows_per_request`; a body without a length counts as the largest request),
   then by its real row count (`resize`). Bounds the model work admitted.
3. `max_queued_bytes`: body bytes admitted and not yet answered (declared, or
   `max_body_bytes` for a body without a length). Bounds the memory that parsed requests
   hold where rows cannot (SageMaker allows 6 MiB bodies of any row count).
4. Expected wait: the rows ahead of it, at the model's measured seconds per row, must finish
   within `request_timeout_s`; a request that would time out anyway is refused now instead.

Limits 2 to 4 let a request in whenever nothing else is in flight, so the largest allowed
request can never be refused forever.

All calls happen on the event loop, so plain integers need no lock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar

CONCURRENT_REQUESTS, QUEUED_ROWS, QUEUED_BYTES, EXPECTED_WAIT = 0, 1, 2, 3
"""Refusal reasons, indexes into `metrics.REFUSAL_REASONS`."""

_EWMA_WEIGHT = 0.1

current_ticket: ContextVar[Ticket | None] = ContextVar("mlserve_admission_ticket", default=None)
"""The ticket of the request this task serves (set by the app, read by the data plane once
the body is parsed: each request runs in its own task, hence its own context)."""


class Ticket:
    """One admitted request: the rows it holds in the budget and the body size it declared."""

    __slots__ = ("rows", "body_bytes", "admitted_bytes")

    def __init__(self, rows: int, admitted_bytes: int) -> None:
        self.rows = rows
        self.admitted_bytes = admitted_bytes
        self.body_bytes = 0
        """The body's real size, once read (the app sets it)."""


class Admission:
    """Admits or refuses inference requests (see the module docstring).

    Args:
        max_concurrent_requests, max_queued_rows, max_queued_bytes, max_rows_per_request,
            max_body_bytes, timeout_s: the limits (serving_app.settings).
        n_features: the model's row width; the first row-size estimate is 2 bytes per value
            (the fewest a JSON or CSV number takes, "0,"), which over-counts rows until real
            requests teach the real size.
        seconds_per_row: the model's measured seconds per row (0 until it has run).
    """

    def __init__(self, *, max_concurrent_requests: int, max_queued_rows: int, max_queued_bytes: int,
                 max_rows_per_request: int, max_body_bytes: int, timeout_s: float, n_features: int,
                 seconds_per_row: Callable[[], float]) -> None:
        self.max_concurrent_requests = max_concurrent_requests
        self.max_queued_rows = max_queued_rows
        self.max_queued_bytes = max_queued_bytes
        self.max_body_bytes = max_body_bytes
        self.max_rows_per_request = max_rows_per_request
        self.timeout_s = timeout_s
        self._seconds_per_row = seconds_per_row
        self.bytes_per_row = 2.0 * max(n_features, 1)
        self.in_flight = 0
        """Requests admitted and not yet answered."""
        self.rows = 0
        """Rows those requests hold (declared until parsed, then real)."""
        self.bytes = 0
        """Body bytes those requests declared."""

    def admit(self, content_length: int | None) -> Ticket | int:
        """A ticket for a request declaring `content_length` body bytes (None: not declared),
        or the reason it is refused (CONCURRENT_REQUESTS, QUEUED_ROWS, QUEUED_BYTES or EXPECTED_WAIT)."""
        if self.in_flight >= self.max_concurrent_requests:
            return CONCURRENT_REQUESTS
        if content_length is None:
            rows, size = self.max_rows_per_request, self.max_body_bytes
        else:
            rows = min(max(math.ceil(content_length / self.bytes_per_row), 1), self.max_rows_per_request)
            size = content_length
        if self.in_flight:
            ahead = self.rows + rows
            if ahead > self.max_queued_rows:
                return QUEUED_ROWS
            if self.bytes + size > self.max_queued_bytes:
                return QUEUED_BYTES
            if ahead * self._seconds_per_row() > self.timeout_s:
                return EXPECTED_WAIT
        self.in_flight += 1
        self.rows += rows
        self.bytes += size
        return Ticket(rows, size)

    def resize(self, ticket: Ticket, rows: int, body_bytes: int) -> None:
        """The request turned out to hold `rows` rows in `body_bytes` bytes: count those
        instead of the estimate, and learn the bytes per row for the next estimates."""
        self.rows += rows - ticket.rows
        ticket.rows = rows
        if rows and body_bytes:
            self.bytes_per_row += _EWMA_WEIGHT * (body_bytes / rows - self.bytes_per_row)

    def release(self, ticket: Ticket) -> None:
        """The request was answered (whatever the outcome)."""
        self.in_flight -= 1
        self.rows -= ticket.rows
        self.bytes -= ticket.admitted_bytes
        ticket.rows = ticket.admitted_bytes = 0
