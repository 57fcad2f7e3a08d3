"""Recent-window gauges computed from histograms at scrape time: p50/p99 latency per route and the
mean batch size over roughly the last minute.

Why: the CloudWatch agent drops Prometheus histograms (it converts counters, gauges and
summaries only: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ContainerInsights-Prometheus-metrics-conversion.html),
and prometheus_client's Summary has no quantiles. These gauges carry the same numbers as the
histograms in a form every scraper keeps. The hot path pays nothing: each scrape reads the
histograms' cumulative buckets and compares them with a snapshot at least `window_s` old.
Per process, like every metric here (one worker per pod on Kubernetes).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Counts = dict[tuple[str, ...], list[tuple[float, float]]]  # label values -> [(upper bound, cumulative count)]


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative `buckets` [(le, count), ...] with linear interpolation inside
    the bucket, as Prometheus' histogram_quantile does; None without observations. An answer in the
    +Inf bucket is the largest finite bound (the histogram knows no more)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _cumulative(histogram: Histogram) -> tuple[Counts, dict[tuple[str, ...], float]]:
    """Cumulative buckets and sums per label-value tuple, read through the public collect()."""
    buckets: Counts = {}
    sums: dict[tuple[str, ...], float] = {}
    for family in histogram.collect():
        for sample in family.samples:
            key = tuple(v for k, v in sorted(sample.labels.items()) if k != "le")
            if sample.name.endswith("_bucket"):
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_sum"):
                sums[key] = sample.value
    return buckets, sums


class WindowStats(Collector):
    """Gauges over the last `window_s` of `latency` (p50, p99 per label set) and `batch_rows` (mean)."""

    def __init__(self, latency: Histogram, batch_rows: Histogram, *, prefix: str, label_names: tuple[str, ...],
                 window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._latency = latency
        self._batch_rows = batch_rows
        self._prefix = prefix
        self._labels = list(label_names)
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        # (time, latency buckets, batch buckets, batch sums); the first is the process start (all zero).
        self._snapshots: deque = deque([(clock(), {}, {}, {})])

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names, without reading anything (the registry calls this on register)."""
        for name in ("p50", "p99"):
            yield GaugeMetricFamily(f"{self._prefix}_request_duration_{name}_seconds", "", labels=self._labels)
        yield GaugeMetricFamily(f"{self._prefix}_batch_size_rows_mean", "")

    def _delta(self, now_buckets: Counts, then_buckets: Counts) -> Counts:
        delta = {}
        for key, buckets in now_buckets.items():
            before = dict(then_buckets.get(key, []))
            delta[key] = [(bound, count - before.get(bound, 0.0)) for bound, count in buckets]
        return delta

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock()
        latency, _ = _cumulative(self._latency)
        batches, batch_sums = _cumulative(self._batch_rows)
        with self._lock:
            # The base: the newest snapshot at least a window old (or the oldest we have).
            while len(self._snapshots) > 1 and self._snapshots[1][0] <= now - self._window_s:
                self._snapshots.popleft()
            _, base_latency, base_batches, base_sums = self._snapshots[0]
            self._snapshots.append((now, latency, batches, batch_sums))
        recent = self._delta(latency, base_latency)
        families = {}
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            family = GaugeMetricFamily(f"{self._prefix}_request_duration_{name}_seconds",
                                       f"{name} of request latency over the last {self._window_s:g} s, by route.",
                                       labels=self._labels)
            for key, buckets in recent.items():
                value = quantile(q, buckets)
                if value is not None:
                    family.add_metric(list(key), value)
            families[name] = family
        yield from families.values()
        mean = GaugeMetricFamily(f"{self._prefix}_batch_size_rows_mean",
                                 f"Mean rows per model call over the last {self._window_s:g} s.")
        calls = sum(b[-1][1] for b in self._delta(batches, base_batches).values() if b)
        rows = sum(batch_sums.values()) - sum(base_sums.values())
        if calls > 0:
            mean.add_metric([], rows / calls)
        yield mean
