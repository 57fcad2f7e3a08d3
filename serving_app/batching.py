"""Adaptive micro-batching: many concurrent requests, one model call.

Declared at the API boundary (as BentoML does with `max_batch_size`/`max_latency_ms`), not
inside the model. The event loop only queues requests and hands finished answers back; the
model runs on one worker thread, so parsing and answering other requests never stalls
behind a prediction. Except for a model measured to answer a batch within `max_inline_s`
(a forest in ONNX Runtime: about 0.1 ms for 64 rows): that batch runs on the event loop
itself, as the hop to the thread and back (two thread switches and a GIL hand-over, about
7% of a core at 20,000 requests per second) costs more than the prediction.

Policy (work-conserving):
- While the model is busy, requests accumulate. When it returns, the next batch leaves at
  once with as many queued requests as fit in `max_batch_size` rows.
- While the model is idle, a request is dispatched on the next event-loop tick, so every
  request parsed in the same wake-up shares its batch, and a lone request at light load
  waits for nothing. The batcher holds a partial batch back (at most `max_wait_s`) only
  when the next request is expected sooner than a batch takes to run, i.e. when waiting
  costs less than the model call it saves. With a fast model that hold is one loop tick;
  with a slow one (a GPU) it fills batches.
- A request's rows stay together, in order, in one batch; a request with more rows than
  `max_batch_size` runs alone. Requests leave in arrival order.
- Over `max_queued_rows` waiting rows, `submit` raises `Overloaded` at once (a 503 with
  Retry-After) instead of letting latency grow into timeouts.
- Each request has a deadline (`timeout_s` after it arrived: the caller may pass the time
  it arrived at the server); one timer, armed for the oldest request, fails late ones with
  `PredictionTimeout`. Requests enter in about deadline order (a small request may be parsed
  before a large one that arrived a moment earlier, whose deadline then waits for the head's
  by those few milliseconds), so one timer suffices instead of one per request.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from serving_app.errors import Overloaded, PredictionTimeout

logger = logging.getLogger(__name__)

RunBatch = Callable[[list[Any]], Sequence[Any]]
"""Runs on the worker thread: one payload per request in, one result per request out, in
order. A result that is an Exception fails only its own request."""

_PENDING, _RUNNING, _DONE = 0, 1, 2
_EWMA_WEIGHT = 0.1  # weight of the newest sample in the arrival-gap and run-time averages
_SPARSE_GAP_S = 1.0  # an arrival gap this long already means "sparse"; longer samples count as this


class BatchObserver(Protocol):
    """Where the batcher reports what it did (the metrics module implements this)."""

    def batch_dispatched(self, rows: int, requests: int, queue_waits_s: list[float]) -> None: ...

    def batch_finished(self, rows: int, run_s: float) -> None: ...


class _NullObserver:
    def batch_dispatched(self, rows: int, requests: int, queue_waits_s: list[float]) -> None:
        pass

    def batch_finished(self, rows: int, run_s: float) -> None:
        pass


class _Item:
    __slots__ = ("payload", "rows", "future", "enqueued", "deadline", "state")

    def __init__(self, payload: Any, rows: int, future: asyncio.Future, enqueued: float, deadline: float) -> None:
        self.payload = payload
        self.rows = rows
        self.future = future
        self.enqueued = enqueued
        self.deadline = deadline
        self.state = _PENDING


class MicroBatcher:
    """Coalesces concurrent `submit` calls into `run_batch` calls on one worker thread.

    Args:
        run_batch: the model call, see `RunBatch`.
        max_batch_size: most rows per `run_batch` call (a bigger request runs alone).
        max_wait_s: longest a partial batch is held while the model is idle; 0 never holds.
        max_queued_rows: waiting rows beyond which `submit` raises `Overloaded`.
        timeout_s: how long a request may wait for its result before `PredictionTimeout`.
        max_inline_s: a batch of at most `max_batch_size` rows runs on the event loop itself
            when the model's recent batches took less than this; otherwise (and before the
            first batch told how fast the model is) on the worker thread. 0: always the thread.
        observer: receives batch sizes and timings (metrics).
        clock: seconds, for arrival gaps, queue waits and run times (tests pass their own).
    """

    def __init__(self, run_batch: RunBatch, *, max_batch_size: int, max_wait_s: float, max_queued_rows: int,
                 timeout_s: float, max_inline_s: float = 0.0, observer: BatchObserver | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._run_batch = run_batch
        self.max_inline_s = max_inline_s
        self._clock = clock
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queued_rows = max_queued_rows
        self.timeout_s = timeout_s
        self._observer = observer or _NullObserver()

        self._pending: deque[_Item] = deque()  # waiting for the model, arrival order
        self._timeline: deque[_Item] = deque()  # every unfinished request, deadline order
        self.queued_rows = 0
        self.busy = False  # a batch is on the worker thread
        self._dispatch_scheduled = False
        self._hold_handle: asyncio.TimerHandle | None = None
        self._expiry_handle: asyncio.TimerHandle | None = None
        self._last_arrival = 0.0
        self._arrival_gap_s = _SPARSE_GAP_S  # starts "sparse": a first lone request is never held
        self._run_s = 0.0
        self.seconds_per_row = 0.0
        """The model's measured seconds per row (a moving average over batches; 0 before the
        first one). Admission reads it to tell how long the rows already admitted will take."""

        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def queued_requests(self) -> int:
        """Requests waiting for the model (not counting the batch running)."""
        return len(self._pending)

    def start(self) -> None:
        """Start the worker thread; call from the event loop that will call `submit`."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, name="model-worker", daemon=True)
        self._thread.start()

    async def stop(self, timeout_s: float = 1.0) -> None:
        """Fail what is still queued and stop the worker thread, waiting at most `timeout_s`
        for the batch running (a hung model must not hold the process past its grace period;
        the thread is a daemon and dies with the process)."""
        if self._thread is None:
            return
        for item in self._pending:
            if not item.future.done():
                item.future.set_exception(PredictionTimeout("the server shut down before this request ran"))
        self._pending.clear()
        self.queued_rows = 0
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join, timeout_s)
        self._thread = None
        for handle in (self._hold_handle, self._expiry_handle):
            if handle is not None:
                handle.cancel()

    def submit(self, payload: Any, rows: int, deadline: float | None = None) -> asyncio.Future:
        """Queue one request of `rows` rows; the future resolves to its own result, or fails
        with PredictionTimeout at `deadline` (event-loop time; default `timeout_s` from now).

        Raises Overloaded when the queue is full.
        """
        if self.queued_rows + rows > self.max_queued_rows and self.queued_rows:
            raise Overloaded(f"server overloaded: {self.queued_rows} rows already queued "
                             f"(max_queued_rows={self.max_queued_rows}); retry shortly")
        loop = self._loop
        now = self._clock()
        item = _Item(payload, rows, loop.create_future(), now,
                     loop.time() + self.timeout_s if deadline is None else deadline)
        self._pending.append(item)
        self._timeline.append(item)
        self.queued_rows += rows

        # Clipped: the first gap is measured from 0 (the clock's origin, often the host's
        # boot) and a quiet hour is no sparser than a quiet second; an unclipped sample would
        # keep the average "sparse" for hundreds of requests.
        gap = min(now - self._last_arrival, _SPARSE_GAP_S)
        self._arrival_gap_s += _EWMA_WEIGHT * (gap - self._arrival_gap_s)
        self._last_arrival = now
        if self._expiry_handle is None:
            self._expiry_handle = loop.call_at(item.deadline, self._expire)
        if not self.busy and not self._dispatch_scheduled:
            if self._hold_handle is None:
                self._dispatch_scheduled = True
                loop.call_soon(self._dispatch_idle)
            elif self.queued_rows >= self.max_batch_size:  # the held batch is full: go
                self._dispatch_scheduled = True
                loop.call_soon(self._dispatch_idle)
        return item.future

    # -- event loop side ---------------------------------------------------------------

    def _dispatch_idle(self) -> None:
        """The model is (probably) idle and requests wait: send a batch now, or hold it."""
        self._dispatch_scheduled = False
        if self.busy or not self._pending:
            return
        if self._hold_handle is not None:
            if self.queued_rows < self.max_batch_size:
                return  # still holding; `_end_hold` sends it
            self._dispatch()
            return
        hold_s = self._hold_for()
        if hold_s > 0:
            self._hold_handle = self._loop.call_later(hold_s, self._end_hold)
            return
        self._dispatch()

    def _hold_for(self) -> float:
        """How long to hold a partial batch while the model is idle (0: send now)."""
        if self.max_wait_s <= 0 or self.queued_rows >= self.max_batch_size:
            return 0.0
        now = self._clock()
        expected_gap = max(self._arrival_gap_s, now - self._last_arrival)
        budget = self.max_wait_s - (now - self._pending[0].enqueued)
        if expected_gap >= self._run_s or expected_gap >= budget:
            return 0.0  # nobody is likely to join in time, or waiting costs more than it saves
        return min(budget, self._run_s)

    def _end_hold(self) -> None:
        self._hold_handle = None
        if not self.busy and self._pending:
            self._dispatch()

    def _dispatch(self) -> None:
        """Move the oldest requests that fit in one batch to the worker thread."""
        pending = self._pending
        batch: list[_Item] = []
        rows = 0
        while pending:
            item = pending[0]
            if item.state != _PENDING or item.future.done():  # expired, or the caller gave up
                pending.popleft()
                if item.state == _PENDING:
                    item.state = _DONE
                    self.queued_rows -= item.rows
                continue
            if batch and rows + item.rows > self.max_batch_size:
                break
            pending.popleft()
            item.state = _RUNNING
            batch.append(item)
            rows += item.rows
        if not batch:
            return
        self.queued_rows -= rows
        self.busy = True
        if self._hold_handle is not None:
            self._hold_handle.cancel()
            self._hold_handle = None
        now = self._clock()
        self._observer.batch_dispatched(rows, len(batch), [now - item.enqueued for item in batch])
        if 0 < self._run_s < self.max_inline_s and rows <= self.max_batch_size:
            # A model this fast costs less run here than the two thread switches a hop costs;
            # whatever accumulated meanwhile leaves when `_batch_done` calls back in.
            self._loop.call_soon(self._run_inline, batch)
        else:
            self._jobs.put(batch)

    def _run_inline(self, batch: list[_Item]) -> None:
        self._batch_done(batch, *self._run(batch))

    def _run(self, batch: list[_Item]) -> tuple[Sequence[Any], float]:
        """Run one batch (on whichever thread): the results and the seconds it took."""
        started = self._clock()
        try:
            results = self._run_batch([item.payload for item in batch])
        except Exception as error:  # noqa: BLE001 - one failed batch must not kill the worker
            logger.exception("batch of %d requests failed", len(batch))
            results = [error] * len(batch)
        return results, self._clock() - started

    def _batch_done(self, batch: list[_Item], results: Sequence[Any], run_s: float) -> None:
        self.busy = False
        rows = 0
        for item, result in zip(batch, results):
            rows += item.rows
            item.state = _DONE
            future = item.future
            if future.done():  # timed out or cancelled while the model ran
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self._run_s:
            self._run_s += _EWMA_WEIGHT * (run_s - self._run_s)
            self.seconds_per_row += _EWMA_WEIGHT * (run_s / max(rows, 1) - self.seconds_per_row)
        else:  # the first sample, not a decay from zero
            self._run_s = run_s
            self.seconds_per_row = run_s / max(rows, 1)
        self._observer.batch_finished(rows, run_s)
        timeline = self._timeline
        while timeline and timeline[0].state == _DONE:
            timeline.popleft()
        if self._pending:
            # What accumulated while the model ran leaves at once: holding now would only
            # leave the model idle.
            self._dispatch()

    def _expire(self) -> None:
        """Fail every request past its deadline, then re-arm for the oldest one left."""
        self._expiry_handle = None
        now = self._loop.time()
        timeline = self._timeline
        while timeline:
            item = timeline[0]
            if item.state != _DONE and not item.future.done():
                if item.deadline > now:
                    break
                item.future.set_exception(PredictionTimeout(
                    f"no prediction within {self.timeout_s:g} s (request_timeout_s)"))
            if item.state == _PENDING:
                self.queued_rows -= item.rows
            if item.state != _RUNNING:
                item.state = _DONE
            timeline.popleft()
        if timeline:
            self._expiry_handle = self._loop.call_at(timeline[0].deadline, self._expire)

    # -- worker thread -----------------------------------------------------------------

    def _work(self) -> None:
        loop = self._loop
        while True:
            batch = self._jobs.get()
            if batch is None:
                return
            results, run_s = self._run(batch)
            try:
                loop.call_soon_threadsafe(self._batch_done, batch, results, run_s)
            except RuntimeError:  # the loop closed under us at shutdown
                return
