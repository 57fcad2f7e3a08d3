"""Smoke tests of the bench's newer parts (bench/sweep.py, cold_start.py, report.py): the concurrency
sweep beside the hello-world app, large requests and cold starts, read into targets and printed.
No figure is asserted: the bench reports targets, it never enforces them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import report, sweep
from bench.__main__ import BenchSettings, SettingsError, settings_from_env
from bench.load import LUA_SCRIPT, RETRY_AFTER_SCRIPT, parse_wrk_output
from bench.servers import server_specs
from tests.test_bench import WRK_STDOUT, _figures, _results
from tests.test_bench_retry_after import RETRY_AFTER_LINE


def _point(req_per_s, p99_ms, non_2xx=0, timeouts=0, rows=1, cpu_us=None):
    point = {**_figures(req_per_s, p99_ms, rows=rows, non_2xx=non_2xx, socket_errors=timeouts),
             "socket_errors_by_kind": {"connect": 0, "read": 0, "write": 0, "timeout": timeouts}}
    if cpu_us is not None:
        point["server_cpu_us_per_request"] = cpu_us
    return point


def _retry_after_point(req_per_s, answered_p99_ms, refused_per_s=0.0, timeouts=0, wrk_p99_ms=None, untimed=0):
    """A point of the Retry-After pass; wrk's own p99 (every status) differs from the answered one."""
    return {**_point(req_per_s, wrk_p99_ms or answered_p99_ms / 3, non_2xx=int(refused_per_s * 10), timeouts=timeouts),
            "answered_p50_ms": answered_p99_ms / 4, "answered_p99_ms": answered_p99_ms,
            "answered_max_ms": answered_p99_ms * 2, "refused_per_s": refused_per_s,
            "refused_p99_ms": 0.4 if refused_per_s else None, "retry_after_waits": int(refused_per_s * 10),
            "untimed": untimed}


def _sweep_results():
    mlserve = {"32": _point(20_000, 2.5, cpu_us=40.0), "256": _point(19_000, 30),
               "1000": _point(17_000, 80, non_2xx=40),
               "2000": _point(15_000, 160, non_2xx=900, timeouts=3)}
    retry_after = {"32": _retry_after_point(19_500, 2.6), "256": _retry_after_point(19_200, 28),
                   "1000": _retry_after_point(18_000, 41, refused_per_s=3_000),
                   "2000": _retry_after_point(17_000, 45, refused_per_s=6_500, timeouts=1, wrk_p99_ms=300, untimed=5)}
    hello = {"32": _point(30_000, 1.5, cpu_us=26.0), "256": _point(29_000, 12), "1000": _point(25_000, 60),
             "2000": _point(24_000, 120)}
    large = {"4": _point(80, 60, rows=1024), "32": _point(70, 400, non_2xx=12, rows=1024)}
    results = _results(None, None, None)
    results["sweep"] = {
        "connections": [32, 256, 1000, 2000], "timeout_s": 2,
        "servers": {"mlserve": {"points": mlserve, "retry_after_points": retry_after, "error": None},
                    "hello": {"points": hello, "error": None},
                    "no_model": {"points": {"32": _point(27_000, 1.2, cpu_us=30.0)}, "error": None},
                    "bare": {"points": {"32": _point(18_000, 1.8, cpu_us=55.0)}, "error": None}},
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
    floor = verdicts["hello_ratio_floor"]  # mlserve without its model: 27,000 over hello's 30,000 at 32
    assert floor["actual"] == pytest.approx(0.9) and floor["met"] is True
    bare = verdicts["hello_ratio_bare"]  # the bare batching app: 18,000 over 30,000
    assert bare["actual"] == pytest.approx(0.6) and bare["met"] is False
    assert verdicts["hello_cpu_ratio"]["actual"] == 0.65  # at 32, the busiest: 26 us per hello request over 40
    large = verdicts["large_request_goodput"]
    assert large["actual"] == pytest.approx(0.88) and large["met"] is True
    assert verdicts["cold_start_demo"]["actual"] == 1.0 and verdicts["cold_start_demo"]["met"] is True
    assert verdicts["cold_start_large_forest"]["met"] is None  # it failed: not measured, never "met"


def test_overload_targets_read_the_retry_after_pass_and_the_instant_retry_ones_the_plain_pass():
    verdicts = {v["name"]: v for v in _sweep_results()["targets"]}
    # 17,000 answered at 2,000 Retry-After connections over 20,000 at 32 in the plain pass (not
    # 19,500, the Retry-After pass's own 32; not 15,000, the plain pass's worst).
    assert verdicts["sweep_goodput"]["actual"] == 0.85 and verdicts["sweep_goodput"]["met"] is True
    # The answered requests' p99 at 2,000: not the plain pass's 160 ms, nor wrk's 300 ms over every status.
    assert verdicts["sweep_p99"]["actual"] == 45 and verdicts["sweep_p99"]["met"] is True
    assert verdicts["sweep_timeouts"]["actual"] == 4 and verdicts["sweep_timeouts"]["met"] is False  # 3 + 1
    instant = verdicts["sweep_goodput_instant_retry"]
    assert instant["actual"] == 0.75 and instant["met"] is False  # 15,000 at 2,000 over 20,000 at 32
    instant = verdicts["sweep_p99_instant_retry"]
    assert instant["actual"] == 160 and instant["met"] is False


def test_an_older_results_json_without_the_retry_after_pass_reads_not_measured():
    results = _sweep_results()
    del results["sweep"]["servers"]["mlserve"]["retry_after_points"]
    results["targets"] = report.evaluate_targets(results)
    verdicts = {v["name"]: v for v in results["targets"]}
    for name in ("sweep_goodput", "sweep_p99", "sweep_timeouts"):
        assert (verdicts[name]["actual"], verdicts[name]["met"]) == (None, None), name
    assert verdicts["sweep_goodput_instant_retry"]["actual"] == 0.75  # the plain pass is still read
    text = report.format_report(results)
    assert "2000  not measured: this results.json has no Retry-After pass" in text
    assert "[not measured] Retry-After clients: worst p99 of the answered requests" in text


def test_the_report_prints_the_sweep_large_requests_and_cold_start():
    text = report.format_report(_sweep_results())
    lines = text.splitlines()
    plain = lines.index("== concurrency sweep, clients that retry at once (wrk, post.lua): single-row requests, "
                        "wrk timeout 2 s ==")
    retry_after = lines.index("== concurrency sweep, clients that honour Retry-After (post_retry_after.lua): "
                              "mlserve, wrk timeout 2 s ==")
    assert plain < retry_after
    assert ("  mlserve without its model (constant answer), 32 connections: 27,000 req/s, 0.9x hello, 30.0 us/req: "
            "the most the hello ratio can be with any model behind this HTTP path") in lines[plain:retry_after]
    assert ("  mlserve's answer from a bare batching app, 32 connections: 18,000 req/s, 0.6x hello, 55.0 us/req: "
            "the most the hello ratio can be for any server that batches the model and gives this answer"
            ) in lines[plain:retry_after]
    row = next(line for line in lines[plain:retry_after] if line.strip().startswith("2000"))
    assert row.split() == ["2000", "15,000", "80.00", "160.00", "900", "3", "0", "24,000", "0.6x", "-", "-", "-"]
    row = next(line for line in lines[plain:retry_after] if line.strip().startswith("32 "))
    assert row.split()[-3:] == ["40.0", "26.0", "-"]
    assert lines[retry_after + 1].split() == ["connections", "answered", "req/s", "answered", "p50", "ms", "answered",
                                              "p99", "ms", "answered", "max", "ms", "503/s", "503", "p99", "ms",
                                              "client", "timeouts", "other", "CPU"]
    row = next(line for line in lines[retry_after:] if line.strip().startswith("2000"))
    assert row.split() == ["2000", "17,000", "11.25", "45.00", "90.0", "6,500", "0.40", "1", "-"]
    row = next(line for line in lines[retry_after:] if line.strip().startswith("32 "))
    assert row.split() == ["32", "19,500", "0.65", "2.60", "5.2", "0", "-", "0", "-"]
    assert "  5 responses carried no X-Request-Id: they are in no answered or 503 figure" in lines
    assert "== large requests: 1024 rows each ==" in text
    assert "large_forest  not measured: serving_app exited with 1" in text
    assert "demo       1.00  0.90, 1.10  0.50, 0.60" in text


def test_the_sweep_runs_mlserve_with_both_clients_and_the_hello_app_with_post_lua_only(tmp_path, monkeypatch,
                                                                                        capsys):
    # ... and mlserve without its model and the bare batching app at the base point only, with post.lua.
    runs = []  # (server, script, seconds) of every wrk run, warm-ups included

    @contextlib.contextmanager
    def started(spec, **kwargs):
        yield SimpleNamespace(base_url=f"http://{spec.name}", process=SimpleNamespace(pid=0))

    def wrk(command, *, duration_s):
        script = Path(command[command.index("-s") + 1])
        runs.append((command[command.index("--") - 1].split("/")[2], script.name, duration_s))
        return parse_wrk_output(RETRY_AFTER_LINE if script == RETRY_AFTER_SCRIPT else WRK_STDOUT)

    monkeypatch.setattr(sweep, "running_server", started)
    monkeypatch.setattr(sweep, "run_wrk", wrk)
    load = sweep.Load(duration_s=3, warmup_s=1, timeout_s=2, server_cpu=None, wrk_cpu=None)
    results, ok = sweep.run_sweep(server_specs("python", tmp_path), model_dir=tmp_path, out=tmp_path,
                                  single_row_bodies=tmp_path / "b", large_bodies=tmp_path / "l", large_rows=1024,
                                  connections=(32, 2000), large_connections=(4,), load=load)
    assert ok
    mlserve, hello = results["servers"]["mlserve"], results["servers"]["hello"]
    assert set(mlserve["retry_after_points"]) == {"32", "2000"} and "retry_after_points" not in hello
    assert mlserve["retry_after_points"]["2000"]["answered_p99_ms"] == 31.0
    assert "answered_p99_ms" not in mlserve["points"]["2000"] and "answered_p99_ms" not in hello["points"]["32"]

    def sweep_pass(server, script, points):  # each point: 1 s of warm-up, then 3 s measured
        return [(server, script.name, seconds) for _point in range(points) for seconds in (1, 3)]

    assert runs == (sweep_pass("mlserve", LUA_SCRIPT, 2) + sweep_pass("mlserve", RETRY_AFTER_SCRIPT, 2)
                    + sweep_pass("mlserve", LUA_SCRIPT, 1)  # the large requests
                    + sweep_pass("hello", LUA_SCRIPT, 2)
                    + sweep_pass("no_model", LUA_SCRIPT, 1) + sweep_pass("bare", LUA_SCRIPT, 1))
    assert set(results["servers"]["no_model"]["points"]) == {"32"} == set(results["servers"]["bare"]["points"])
    out = capsys.readouterr().out
    assert ("   2000 connections, post_retry_after.lua: 1,000 req/s answered, p99 of the answered 31.0 ms, "
            "300 503/s, 598 Retry-After waits, 1 client timeouts") in out
    assert "     32 connections, post.lua: 495 req/s answered, p99 95.9 ms, 10 non-2xx, 2 client timeouts" in out


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
