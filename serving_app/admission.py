"""Admission: whether an inference request is taken, decided from its headers alone, before
its body is read or parsed.

The server processes a bounded set of requests at once (parsing, queued for the model, in
the model, being answered): at most `max_concurrent_requests` requests, `max_queued_rows`
rows and `max_queued_bytes` body bytes. A request that does not fit waits, unparsed and in
arrival order, for room. Waiting costs next to nothing: a small body sits in the HTTP
layer's buffer, a large one mostly in the kernel (TCP stops its sender), so the CPU goes to
requests that will be answered.

How long a request may wait is a budget, `queue_wait_target_ms`: a request expected to wait
longer (the requests ahead of it, at the pace requests have been finishing) is refused at
once with 503 + Retry-After, as is one whose rows, added to those already in the model's
queue, would not finish within `request_timeout_s` at the model's measured speed. Kept
short, answered requests see a short queue, as long as refused clients stay away for the
Retry-After they were given. A client that comes straight back on the same connection
(a load generator, a misconfigured SDK) would make refusing shed nothing: its refusals
would take the CPU from the answers. Such a request waits its turn instead of being
refused again (for `RETRY_AFTER_S` after its connection's refusal; a refusal for the
model's queue stays one, since waiting would not make its rows finish in time). And no request ever
waits longer than `max_queue_wait_ms`: one that did is refused then, so a wrong estimate
(the model slowed down) cannot keep it into its client's timeout.

Counting: a request counts by its declared size until parsed (Content-Length over the bytes
per row seen so far, rounded up, at most `max_rows_per_request`; a body without a length
counts as the largest request), then by its real row count (`resize`). A request always
enters when nothing else is processed, so the largest allowed request is never locked out.

Everything runs on the event loop, so plain integers need no lock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar

QUEUE_WAIT, REQUEST_TIMEOUT = 0, 1
"""Refusal reasons, indexes into `metrics.REFUSAL_REASONS`."""

_EWMA_WEIGHT = 0.1
RETRY_AFTER_S = 1
"""The Retry-After of every refusal, in seconds (HTTP allows whole seconds only)."""

current_ticket: ContextVar[Ticket | None] = ContextVar("mlserve_admission_ticket", default=None)
"""The ticket of the request this task serves (set by the app, read by the data plane once
the body is parsed: each request runs in its own task, hence its own context)."""


class Ticket:
    """One request being processed: what it holds of the limits, when it entered, and the
    event-loop time by which it must be answered (`timeout_s` after it arrived, waiting
    included, so the server's own timeout bounds its whole stay)."""

    __slots__ = ("rows", "size", "body_bytes", "entered", "deadline")

    def __init__(self, rows: int, size: int, entered: float, deadline: float) -> None:
        self.rows = rows
        self.size = size
        """Body bytes it holds of `max_queued_bytes` (declared, or `max_body_bytes`)."""
        self.body_bytes = 0
        """The body's real size, once read (the app sets it)."""
        self.entered = entered
        self.deadline = deadline


class _Waiter:
    __slots__ = ("rows", "size", "future", "deadline", "wait_deadline")

    def __init__(self, rows: int, size: int, future: asyncio.Future, deadline: float, wait_deadline: float) -> None:
        self.rows = rows
        self.size = size
        self.future = future
        self.deadline = deadline
        """When the request must be answered (its ticket's deadline, once it enters)."""
        self.wait_deadline = wait_deadline
        """When it is refused if it has not entered yet (`max_queue_wait_s` after arrival)."""


class Admission:
    """Takes, queues or refuses inference requests (see the module docstring).

    Args:
        max_concurrent_requests, max_queued_rows, max_queued_bytes, max_rows_per_request,
            max_body_bytes, max_queue_wait_s, queue_wait_target_s, timeout_s: the limits
            (serving_app.settings).
        n_features: the model's row width; the first row-size estimate is 2 bytes per value
            (the fewest a JSON or CSV number takes, "0,"), which over-counts rows until real
            requests teach the real size.
        seconds_per_row: the model's measured seconds per row (0 until it has run).
        model_rows: rows waiting for or in the model right now.
        clock: seconds, for how long requests take (tests pass their own).
    """

    def __init__(self, *, max_concurrent_requests: int, max_queued_rows: int, max_queued_bytes: int,
                 max_rows_per_request: int, max_body_bytes: int, max_queue_wait_s: float,
                 queue_wait_target_s: float, timeout_s: float,
                 n_features: int, seconds_per_row: Callable[[], float], model_rows: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_concurrent_requests = max_concurrent_requests
        self.max_queued_rows = max_queued_rows
        self.max_queued_bytes = max_queued_bytes
        self.max_rows_per_request = max_rows_per_request
        self.max_body_bytes = max_body_bytes
        self.max_queue_wait_s = max_queue_wait_s
        self.queue_wait_target_s = min(queue_wait_target_s, max_queue_wait_s)
        self.timeout_s = timeout_s
        self._seconds_per_row = seconds_per_row
        self._model_rows = model_rows
        self._clock = clock
        self.bytes_per_row = 2.0 * max(n_features, 1)
        self.processing = 0
        """Requests being processed (entered and not yet answered)."""
        self.rows = 0
        """Rows those requests hold (declared until parsed, then real)."""
        self.bytes = 0
        """Body bytes those requests hold."""
        self.waiting: deque[_Waiter] = deque()
        """Requests waiting for room, in arrival order."""
        self.service_s = 0.0
        """Moving average of how long a request is processed (0 before the first)."""
        self._expiry: asyncio.TimerHandle | None = None
        self._refused_at: dict[object, float] = {}
        """When each connection (uvicorn's `client`: address and port) was last refused."""
        self._forget_at = 0.0

    @property
    def in_flight(self) -> int:
        """Requests the server holds: waiting for room or being processed."""
        return self.processing + len(self.waiting)

    def admit(self, content_length: int | None, connection: object = None) -> Ticket | asyncio.Future | int:
        """For a request declaring `content_length` body bytes (None: not declared), arriving on
        `connection` (any hashable naming it; None: unknown, never counted as a retry): a ticket
        (process it now), a future to wait for (it resolves to a ticket when there is room, or
        to QUEUE_WAIT if none came within `max_queue_wait_s`: the model slowed down or stopped), or the
        reason it is refused at once (QUEUE_WAIT or REQUEST_TIMEOUT)."""
        if content_length is None:
            rows, size = self.max_rows_per_request, self.max_body_bytes
        else:
            rows = min(max(math.ceil(content_length / self.bytes_per_row), 1), self.max_rows_per_request)
            size = content_length
        if self.processing and (self._model_rows() + rows) * self._seconds_per_row() > self.timeout_s:
            return REQUEST_TIMEOUT
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + self.timeout_s
        if not self.waiting and self._fits(rows, size):
            return self._enter(rows, size, deadline)
        if self.max_queue_wait_s <= 0:
            return QUEUE_WAIT
        # The requests ahead of it finish at about `processing` per service time.
        expected_wait_s = (len(self.waiting) + 1) * self.service_s / max(self.processing, 1)
        if expected_wait_s > self.queue_wait_target_s and not self._retried_at_once(connection, self._clock()):
            return QUEUE_WAIT
        future = loop.create_future()
        self.waiting.append(_Waiter(rows, size, future, deadline, now + min(self.max_queue_wait_s, self.timeout_s)))
        if self._expiry is None:
            self._expiry = loop.call_at(self.waiting[0].wait_deadline, self._expire)
        return future

    def resize(self, ticket: Ticket, rows: int, body_bytes: int) -> None:
        """The request turned out to hold `rows` rows in `body_bytes` bytes: count those
        instead of the estimate, and learn the bytes per row for the next estimates."""
        self.rows += rows - ticket.rows
        ticket.rows = rows
        if rows and body_bytes:
            self.bytes_per_row += _EWMA_WEIGHT * (body_bytes / rows - self.bytes_per_row)

    def release(self, ticket: Ticket) -> None:
        """The request was answered (whatever the outcome): its room goes to the waiting ones."""
        self.processing -= 1
        self.rows -= ticket.rows
        self.bytes -= ticket.size
        ticket.rows = ticket.size = 0
        took = self._clock() - ticket.entered
        self.service_s = took if not self.service_s else self.service_s + _EWMA_WEIGHT * (took - self.service_s)
        waiting = self.waiting
        while waiting:
            waiter = waiting[0]
            if waiter.future.done():  # its request is gone (the client left)
                waiting.popleft()
                continue
            if not self._fits(waiter.rows, waiter.size):
                break  # arrival order: nobody overtakes the head
            waiting.popleft()
            waiter.future.set_result(self._enter(waiter.rows, waiter.size, waiter.deadline))

    def _retried_at_once(self, connection: object, now: float) -> bool:
        """Whether this connection was refused less than RETRY_AFTER_S ago (its client did not
        wait as told); if not, remember this refusal."""
        if connection is None:
            return False
        refused_at = self._refused_at
        last = refused_at.get(connection)
        if last is not None and now - last < RETRY_AFTER_S:
            return True
        refused_at[connection] = now
        if now >= self._forget_at:  # once a second, forget refusals older than RETRY_AFTER_S
            self._refused_at = {key: at for key, at in refused_at.items() if now - at < RETRY_AFTER_S}
            self._forget_at = now + RETRY_AFTER_S
        return False

    def _expire(self) -> None:
        """Refuse the waiting requests that got no room within `max_queue_wait_s` (nor within
        `timeout_s`) of their arrival: one timer, armed for the oldest (they wait in arrival
        order, and that wait is the same for all, so their deadlines are in order too)."""
        self._expiry = None
        waiting = self.waiting
        if not waiting:
            return
        loop = waiting[0].future.get_loop()
        now = loop.time()
        while waiting and (waiting[0].wait_deadline <= now or waiting[0].future.done()):
            waiter = waiting.popleft()
            if not waiter.future.done():
                waiter.future.set_result(QUEUE_WAIT)
        if waiting:
            self._expiry = loop.call_at(waiting[0].wait_deadline, self._expire)

    def _fits(self, rows: int, size: int) -> bool:
        if not self.processing:
            return True
        return (self.processing < self.max_concurrent_requests and self.rows + rows <= self.max_queued_rows
                and self.bytes + size <= self.max_queued_bytes)

    def _enter(self, rows: int, size: int, deadline: float) -> Ticket:
        self.processing += 1
        self.rows += rows
        self.bytes += size
        return Ticket(rows, size, self._clock(), deadline)
