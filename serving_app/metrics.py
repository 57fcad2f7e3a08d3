"""Prometheus metrics, one registry per app (no module globals, so tests can run many apps).

One latency histogram per stage, as KServe does: queue wait (per request), inference (per
batch), total (per request and route). Batch sizes show whether coalescing happens; queue
depth is read at scrape time, so the hot path pays nothing for it.

With `workers > 1` each process has its own registry and /metrics answers for the one
process that served the scrape; Kubernetes runs one worker per pod, so there it is exact.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from serving_app.models.base import ModelMetadata
from serving_app.window_stats import WindowStats

# Seconds. Starts at 100 us: with batching a healthy single-row request takes ~1 ms.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every metric the server exports, in its own `CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("mlserve_requests", "HTTP requests answered, by route and status code.",
                                ["route", "status"], registry=r)
        self.request_seconds = Histogram("mlserve_request_duration_seconds",
                                         "Time from the app receiving a request to its response being sent, by route.", ["route"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.queue_seconds = Histogram("mlserve_queue_wait_seconds",
                                       "Time a request waited in the batch queue before its batch ran.",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.inference_seconds = Histogram("mlserve_inference_duration_seconds",
                                           "Time one batch spent in the model (assembly, predict, split).",
                                           buckets=LATENCY_BUCKETS, registry=r)
        self.batch_rows = Histogram("mlserve_batch_size_rows", "Rows per model call.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("mlserve_batch_size_requests", "Requests coalesced into one model call.",
                                        buckets=BATCH_BUCKETS, registry=r)
        self.queue_rows = Gauge("mlserve_queue_depth_rows", "Rows waiting for the model.", registry=r)
        self.queue_requests = Gauge("mlserve_queue_depth_requests", "Requests waiting for the model.", registry=r)
        self.model_info = Info("mlserve_model", "The model being served.", registry=r)
        self.model_load_seconds = Gauge("mlserve_model_load_seconds",
                                        "Seconds it took to load the model artifact.", registry=r)
        self.warmup_seconds = Gauge("mlserve_model_warmup_seconds", "Seconds the warm-up prediction took.",
                                    registry=r)
        self.ready = Gauge("mlserve_ready", "1 when the server takes predictions (loaded, warmed, not draining).",
                           registry=r)
        # p50/p99 latency and mean batch size of the last minute as gauges: what the CloudWatch
        # agent keeps (it drops histograms), computed at scrape time.
        r.register(WindowStats(self.request_seconds, self.batch_rows, prefix="mlserve", label_names=("route",)))
        self._request_children: dict[tuple[str, int], Callable[[], None]] = {}
        self._latency_children: dict[str, Callable[[float], None]] = {}

    def set_model(self, metadata: ModelMetadata, load_seconds: float | None) -> None:
        """Record what is served and how long loading took."""
        self.model_info.info({"name": metadata.name, "version": metadata.version,
                              "framework": metadata.framework, "runtime": metadata.runtime})
        if load_seconds is not None:
            self.model_load_seconds.set(load_seconds)

    def watch_queue(self, rows: Callable[[], float], requests: Callable[[], float]) -> None:
        """Read queue depth from the batcher at scrape time."""
        self.queue_rows.set_function(rows)
        self.queue_requests.set_function(requests)

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its total latency."""
        key = (route, status)
        inc = self._request_children.get(key)
        if inc is None:  # label lookups cost microseconds; resolve each child once
            inc = self._request_children[key] = self.requests.labels(route, str(status)).inc
        inc()
        observe = self._latency_children.get(route)
        if observe is None:
            observe = self._latency_children[route] = self.request_seconds.labels(route).observe
        observe(seconds)

    # BatchObserver
    def batch_dispatched(self, rows: int, requests: int, queue_waits_s: list[float]) -> None:
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)
        observe = self.queue_seconds.observe
        for wait in queue_waits_s:
            observe(wait)

    def batch_finished(self, rows: int, run_s: float) -> None:
        self.inference_seconds.observe(run_s)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
