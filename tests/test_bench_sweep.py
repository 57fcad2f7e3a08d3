"""Smoke tests of the bench's newer parts (bench/sweep.py, cold_start.py, report.py): the concurrency
sweep beside the hello-world app, large requests and cold starts, read into targets and printed.
No figure is asserted: the bench reports targets, it never enforces them."""

from __future__ import annotations

import pytest

from bench import report
from bench.__main__ import BenchSettings, SettingsError, settings_from_env
from tests.test_bench import _figures, _results


def _point(req_per_s, p99_ms, non_2xx=0, timeouts=0, rows=1, cpu_us=None):
    point = {**_figures(req_per_s, p99_ms, rows=rows, non_2xx=non_2xx, socket_errors=timeouts),
             "socket_errors_by_kind": {"connect": 0, "read": 0, "write": 0, "timeout": timeouts}}
    if cpu_us is not None:
        point["server_cpu_us_per_request"] = cpu_us
    return point


def _sweep_results():
    mlserve = {"32": _point(20_000, 2.5, cpu_us=40.0), "256": _point(19_000, 30),
               "1000": _point(17_000, 80, non_2xx=40),
               "2000": _point(15_000, 160, non_2xx=900, timeouts=3)}
    hello = {"32": _point(30_000, 1.5, cpu_us=26.0), "256": _point(29_000, 12), "1000": _point(25_000, 60),
             "2000": _point(24_000, 120)}
    large = {"4": _point(80, 60, rows=1024), "32": _point(70, 400, non_2xx=12, rows=1024)}
    results = _results(None, None, None)
    results["sweep"] = {
        "connections": [32, 256, 1000, 2000], "timeout_s": 2,
        "servers": {"mlserve": {"points": mlserve, "error": None}, "hello": {"points": hello, "error": None}},
        "large_requests": {"rows_per_request": 1024, "connections": [4, 32], "points": large, "error": None},
    }
    results["cold_start"] = {
        "demo": {"runs": [{"first_answer_s": 0.9, "loader_s": 0.5}, {"first_answer_s": 1.1, "loader_s": 0.6}],
                 "median_s": 1.0, "error": None},
        "large_forest": {"runs": [], "error": "serving_app exited with 1"},
    }
    results["targets"] = report.evaluate_targets(results)
    return results


def test_sweep_and_cold_start_targets_read_their_figures():
    verdicts = {v["name"]: v for v in _sweep_results()["targets"]}
    assert verdicts["hello_ratio"]["actual"] == pytest.approx(0.67) and verdicts["hello_ratio"]["met"] is False
    assert verdicts["hello_cpu_ratio"]["actual"] == 0.65  # at 32, the busiest: 26 us per hello request over 40
    assert verdicts["sweep_goodput"]["actual"] == 0.75  # 15,000 at 2,000 connections over 20,000 at 32
    assert verdicts["sweep_p99"]["actual"] == 160 and verdicts["sweep_p99"]["met"] is False
    assert verdicts["sweep_timeouts"]["actual"] == 3 and verdicts["sweep_timeouts"]["met"] is False
    large = verdicts["large_request_goodput"]
    assert large["actual"] == pytest.approx(0.88) and large["met"] is True
    assert verdicts["cold_start_demo"]["actual"] == 1.0 and verdicts["cold_start_demo"]["met"] is True
    assert verdicts["cold_start_large_forest"]["met"] is None  # it failed: not measured, never "met"


def test_the_report_prints_the_sweep_large_requests_and_cold_start():
    text = report.format_report(_sweep_results())
    assert "== concurrency sweep: single-row requests, wrk timeout 2 s ==" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("2000"))
    assert row.split() == ["2000", "15,000", "80.00", "160.00", "900", "3", "0", "24,000", "0.6x", "-", "-", "-"]
    row = next(line for line in text.splitlines() if line.strip().startswith("32 "))
    assert row.split()[-3:] == ["40.0", "26.0", "-"]
    assert "== large requests: 1024 rows each ==" in text
    assert "large_forest  not measured: serving_app exited with 1" in text
    assert "demo       1.00  0.90, 1.10  0.50, 0.60" in text


def test_bench_parts_sweep_and_cold_start_settings_are_read_and_checked():
    settings = settings_from_env({"BENCH_PARTS": "sweep", "BENCH_SWEEP": "16,64", "BENCH_TIMEOUT": "5",
                                  "BENCH_COLD_STARTS": "1"})
    assert (settings.parts, settings.sweep, settings.timeout_s, settings.cold_starts) == (("sweep",), (16, 64), 5, 1)
    assert BenchSettings().sweep == (32, 256, 1000, 2000) and BenchSettings().timeout_s == 2
    for env, variable in (({"BENCH_PARTS": "sweep,latency"}, "BENCH_PARTS"), ({"BENCH_SWEEP": "64,16"}, "BENCH_SWEEP"),
                          ({"BENCH_SWEEP": "lots"}, "BENCH_SWEEP"), ({"BENCH_COLD_STARTS": "0"}, "BENCH_COLD_STARTS")):
        with pytest.raises(SettingsError, match=variable):
            settings_from_env(env)


def test_the_hello_world_app_reads_the_body_and_answers():
    import asyncio

    from bench.baselines.hello_asgi import BODY, app

    async def call():
        sent, chunks = [], [{"type": "http.request", "body": b"{", "more_body": True},
                            {"type": "http.request", "body": b"}", "more_body": False}]

        async def receive():
            return chunks.pop(0)

        async def send(message):
            sent.append(message)

        await app({"type": "http", "method": "POST", "path": "/predict", "headers": []}, receive, send)
        return sent, chunks

    sent, unread = asyncio.run(call())
    assert unread == [] and sent[0]["status"] == 200 and sent[1]["body"] == BODY
