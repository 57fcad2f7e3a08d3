"""Prometheus metrics, one set per app (no module globals, so tests can run many apps).

One latency histogram per stage, as KServe does: queue wait (per request), inference (per
batch), total (per request and route). Batch sizes show whether coalescing happens; queue
depth and requests in flight are read at scrape time, so the hot path pays nothing for them.

Values live in a `ValueStore` (metrics_store.py): plain float slots written by the event
loop without locks, and, with `workers > 1`, summed over every worker process when /metrics
is scraped, so the answer is the pod's, whichever worker serves the scrape. prometheus_client
still writes the exposition format; only its value storage is not used on the hot path.

Names are stable: dashboards, alarms and autoscalers read them. `mlserve_requests_in_flight`
(inference requests the pod holds, waiting for room or being processed, summed over its
workers) is the one to scale on: it rises before latency does and counts what a new pod
would take over.
"""

from __future__ import annotations

import asyncio
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from serving_app.metrics_store import ValueStore
from serving_app.models.base import ModelMetadata
from serving_app.window_stats import WindowStats

# Seconds. Starts at 100 us: with batching a healthy single-row request takes ~1 ms.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
MAX_ROUTES = 32
"""Route labels the layout has room for (the app has about 15, plus "unmatched")."""
REFUSAL_REASONS = ("queue_wait", "request_timeout")
"""Why admission refused a request (`mlserve_admission_refused_total{reason}`): it would have
waited longer than max_queue_wait_ms for room (or waited request_timeout_s without getting
any), or its rows would not have finished within request_timeout_s."""

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
_STATUSES = range(100, 600)

# Gauges each process sets, and how the pod's value is made from the live processes' values.
_SUM_GAUGES = {
    "requests_in_flight": "Inference requests the server holds, waiting for room or being processed, summed "
                          "over the pod's worker processes: the demand to scale on.",
    "requests_waiting": "Inference requests waiting, unparsed, for room to be processed.",
    "queue_depth_rows": "Rows waiting for the model.",
    "queue_depth_requests": "Requests waiting for the model.",
}
_MIN_GAUGES = {"ready": "1 when the server takes predictions (loaded, warmed, not draining) in every worker."}
_MAX_GAUGES = {
    "model_load_seconds": "Seconds it took to load the model artifact (the slowest worker).",
    "model_warmup_seconds": "Seconds the warm-up prediction took (the slowest worker).",
}
_GAUGES = (*_SUM_GAUGES, *_MIN_GAUGES, *_MAX_GAUGES)


class _Histogram:
    """Slots of one histogram from `start`: per label value, a count per bucket (+Inf last), then the sum."""

    def __init__(self, reserve: Callable[[int], int], bounds: Sequence[float], labels: int = 1) -> None:
        self.bounds = tuple(bounds)
        self.stride = len(bounds) + 2
        self.start = reserve(self.stride * labels)

    def family(self, name: str, documentation: str, totals: np.ndarray, label_names: Sequence[str] = (),
               label_values: Sequence[Sequence[str]] = ((),)) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, documentation, labels=label_names)
        for index, values in enumerate(label_values):
            base = self.start + index * self.stride
            counts = np.cumsum(totals[base:base + self.stride - 1])
            if label_names and not counts[-1]:
                continue  # a route never called: no series, as prometheus_client would do
            bounds = [*map(_le, self.bounds), "+Inf"]
            family.add_metric(list(values), list(zip(bounds, counts.tolist())), totals[base + self.stride - 1])
        return family


class _FamilySource:
    """What WindowStats reads: an object whose collect() returns this scrape's family."""

    def __init__(self) -> None:
        self.family: Metric | None = None

    def collect(self) -> list[Metric]:
        return [self.family] if self.family is not None else []


class Metrics(Collector):
    """Every metric the server exports. `registry` renders them (and serves tests' lookups).

    Args:
        directory: with several worker processes, where each keeps its values (see
            metrics_store.py); None for one process.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._routes: dict[str, int] = {}
        self._route_labels: list[str] = []
        offset = 0

        def reserve(size: int) -> int:
            nonlocal offset
            start, offset = offset, offset + size
            return start

        self._requests = reserve(MAX_ROUTES * len(_STATUSES))
        self._refused = reserve(len(REFUSAL_REASONS))
        self._latency = _Histogram(reserve, LATENCY_BUCKETS, MAX_ROUTES)
        self._queue_wait = _Histogram(reserve, LATENCY_BUCKETS)
        self._inference = _Histogram(reserve, LATENCY_BUCKETS)
        self._batch_rows = _Histogram(reserve, BATCH_BUCKETS)
        self._batch_requests = _Histogram(reserve, BATCH_BUCKETS)
        self._gauge_slots = {name: reserve(1) for name in _GAUGES}
        self._live_only = np.zeros(offset, dtype=bool)
        for slot in self._gauge_slots.values():
            self._live_only[slot] = True
        fingerprint = zlib.crc32(repr((offset, LATENCY_BUCKETS, BATCH_BUCKETS, _GAUGES, REFUSAL_REASONS)).encode())
        self.store = ValueStore(offset, fingerprint, directory)
        self._values = self.store.values
        self._watched: dict[str, Callable[[], float]] = {}
        self._publisher: asyncio.TimerHandle | None = None
        self._info: dict[str, str] = {}
        self._latency_source, self._batch_source = _FamilySource(), _FamilySource()
        # p50/p99 latency and mean batch size of the last minute as gauges: what the CloudWatch
        # agent keeps (it drops histograms), computed at scrape time.
        self._window = WindowStats(self._latency_source, self._batch_source, prefix="mlserve", label_names=("route",))
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.route_slot("unmatched")

    # -- set up ----------------------------------------------------------------------------

    def route_slot(self, label: str) -> int:
        """The slot of a route label, assigned in call order (the same in every worker)."""
        slot = self._routes.get(label)
        if slot is None:
            if len(self._route_labels) >= MAX_ROUTES:
                raise ValueError(f"more than {MAX_ROUTES} routes; raise metrics.MAX_ROUTES")
            slot = self._routes[label] = len(self._route_labels)
            self._route_labels.append(label)
        return slot

    def set_model(self, metadata: ModelMetadata, load_seconds: float | None) -> None:
        """Record what is served and how long loading took."""
        self._info = {"name": metadata.name, "version": metadata.version, "framework": metadata.framework,
                      "runtime": metadata.runtime}
        if load_seconds is not None:
            self.set_gauge("model_load_seconds", load_seconds)

    def set_gauge(self, name: str, value: float) -> None:
        """Set one of this process's gauges (`ready`, `model_load_seconds`, ...)."""
        self._values[self._gauge_slots[name]] = float(value)

    def watch(self, name: str, read: Callable[[], float]) -> None:
        """Read a gauge (`requests_in_flight`, `queue_depth_rows`, ...) from its owner when
        published: at each scrape, and every second with several workers (`publish_gauges`)."""
        self._watched[name] = read

    def publish_gauges(self) -> None:
        """Copy the watched gauges into this process's slots, where other workers read them."""
        values, slots = self._values, self._gauge_slots
        for name, read in self._watched.items():
            values[slots[name]] = float(read())

    def start_publishing(self, loop: asyncio.AbstractEventLoop, interval_s: float = 1.0) -> None:
        """With several workers, publish the watched gauges every `interval_s` (a scrape reads
        the other workers' values as of their last publication)."""
        if self.store.directory is None:
            return  # one process: every scrape reads the live values

        def tick() -> None:
            self.publish_gauges()
            self._publisher = loop.call_later(interval_s, tick)

        tick()

    def stop_publishing(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            self._publisher = None

    # -- the hot path: plain stores, no locks (every caller runs on the event loop) ----------

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its total latency."""
        slot = self._routes.get(route)
        if slot is None:
            slot = self.route_slot(route)
        if not 100 <= status < 600:
            status = 500  # never written into a neighbour's slot, whatever a bug returns
        values = self._values
        values[self._requests + slot * 500 + status - 100] += 1.0
        base = self._latency.start + slot * self._latency.stride
        values[base + bisect_left(LATENCY_BUCKETS, seconds)] += 1.0
        values[base + self._latency.stride - 1] += seconds

    def refused(self, reason_index: int) -> None:
        """Count one request refused by admission (index into REFUSAL_REASONS)."""
        self._values[self._refused + reason_index] += 1.0

    def batch_dispatched(self, rows: int, requests: int, queue_waits_s: list[float]) -> None:
        """BatchObserver: one batch left for the model."""
        values = self._values
        _observe(values, self._batch_rows, rows)
        _observe(values, self._batch_requests, requests)
        wait = self._queue_wait
        sum_slot = wait.start + wait.stride - 1
        for seconds in queue_waits_s:
            values[wait.start + bisect_left(LATENCY_BUCKETS, seconds)] += 1.0
            values[sum_slot] += seconds

    def batch_finished(self, rows: int, run_s: float) -> None:
        """BatchObserver: the model returned."""
        _observe(self._values, self._inference, run_s)

    # -- exposition --------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (the pod's, summed over workers)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        self.publish_gauges()
        totals = self.store.totals(self._live_only)
        routes = [(label,) for label in self._route_labels]
        requests = CounterMetricFamily("mlserve_requests", "HTTP requests answered, by route and status code.",
                                       labels=["route", "status"])
        block = totals[self._requests:self._requests + MAX_ROUTES * 500].reshape(MAX_ROUTES, 500)
        for slot, offset in zip(*np.nonzero(block[:len(routes)])):
            requests.add_metric([routes[slot][0], str(offset + 100)], block[slot, offset])
        yield requests
        refused = CounterMetricFamily("mlserve_admission_refused",
                                      "Inference requests refused with 503 before their body was read, by reason.",
                                      labels=["reason"])
        for index, reason in enumerate(REFUSAL_REASONS):
            refused.add_metric([reason], totals[self._refused + index])
        yield refused
        latency = self._latency.family("mlserve_request_duration_seconds",
                                       "Time from the app receiving a request to its response being sent, by route.",
                                       totals, ("route",), routes)
        batch_rows = self._batch_rows.family("mlserve_batch_size_rows", "Rows per model call.", totals)
        yield latency
        yield self._queue_wait.family("mlserve_queue_wait_seconds",
                                      "Time a request waited in the batch queue before its batch ran.", totals)
        yield self._inference.family("mlserve_inference_duration_seconds",
                                     "Time one batch spent in the model (assembly, predict, split).", totals)
        yield batch_rows
        yield self._batch_requests.family("mlserve_batch_size_requests", "Requests coalesced into one model call.",
                                          totals)
        for name, documentation in _SUM_GAUGES.items():
            yield _gauge(f"mlserve_{name}", documentation, totals[self._gauge_slots[name]])
        processes = [values for _, values in self.store.per_process()]
        for names, merge in ((_MIN_GAUGES, min), (_MAX_GAUGES, max)):
            for name, documentation in names.items():
                slot = self._gauge_slots[name]
                yield _gauge(f"mlserve_{name}", documentation, merge(values[slot] for values in processes))
        if self._info:
            info = InfoMetricFamily("mlserve_model", "The model being served.")
            info.add_metric([], self._info)
            yield info
        self._latency_source.family, self._batch_source.family = latency, batch_rows
        yield from self._window.collect()


def _observe(values: memoryview, histogram: _Histogram, value: float) -> None:
    values[histogram.start + bisect_left(histogram.bounds, value)] += 1.0
    values[histogram.start + histogram.stride - 1] += value


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _le(bound: float) -> str:
    """A bucket bound as prometheus_client writes it (1 -> "1.0")."""
    return repr(float(bound))
