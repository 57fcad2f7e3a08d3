"""Recent-window gauges from the histograms: exact quantiles on known buckets, the window moves,
and a real server exports them on /metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from serving_app.window_stats import WindowStats, quantile


def test_quantile_interpolates_inside_the_bucket_like_prometheus():
    buckets = [(0.1, 50.0), (0.2, 90.0), (0.4, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.15)
    assert quantile(0.99, buckets) == pytest.approx(0.38)
    assert quantile(0.99, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == 0.1  # beyond the last bound


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _values(registry) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples if "p99" in s.name or "mean" in s.name}


def test_the_window_forgets_old_requests():
    registry, clock = CollectorRegistry(), Clock()
    latency = Histogram("t_request_duration_seconds", "", ["route"], buckets=(0.01, 0.1, 1.0), registry=registry)
    batches = Histogram("t_batch_size_rows", "", buckets=(1, 8, 64), registry=registry)
    registry.register(WindowStats(latency, batches, prefix="t", label_names=("route",), window_s=60, clock=clock))
    for _ in range(100):
        latency.labels("/predict").observe(0.5)  # slow minute
    batches.observe(8)
    first = _values(registry)
    assert first[("t_request_duration_p99_seconds", (("route", "/predict"),))] == pytest.approx(0.991)
    assert first[("t_batch_size_rows_mean", ())] == 8
    clock.now = 61
    _values(registry)  # a scrape a window later: its snapshot becomes the next base
    for _ in range(100):
        latency.labels("/predict").observe(0.005)  # fast minute
    batches.observe(2)
    clock.now = 122
    later = _values(registry)
    assert later[("t_request_duration_p99_seconds", (("route", "/predict"),))] < 0.01
    assert later[("t_batch_size_rows_mean", ())] == 2
    clock.now = 183
    assert _values(registry) == {}  # no requests in the window: no sample (CloudWatch: missing data)


def test_the_server_exports_the_window_gauges(fake_server):
    fake_server.client.post("/predict", json={"instances": [[1, 2, 3, 4]]})
    text = fake_server.client.get("/metrics").text
    assert 'mlserve_request_duration_p99_seconds{route="/predict"}' in text
    assert "mlserve_batch_size_rows_mean " in text
