"""Smoke tests of the bench's own code (bench/): parsing wrk's output, ratios and target
verdicts, request bodies, server lifecycle, and the two baselines answering correctly.
No figure is asserted: the bench reports targets, it never enforces them."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from bench import cpu, report
from bench.__main__ import BenchSettings, SettingsError, settings_from_env
from bench.load import LoadError, parse_wrk_output, run_wrk, write_bodies, wrk_command
from bench.servers import (
    ServerError,
    ServerSpec,
    group_memory,
    parse_proc_status,
    predict,
    running_server,
)

# What `wrk -s bench/post.lua` prints: wrk's own summary, then post.lua's done() line.
WRK_STDOUT = """\
Running 3s test @ http://127.0.0.1:8011/predict
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    33.10ms   16.76ms 109.58ms   76.32%
    Req/Sec   123.75     26.08   190.00     75.00%
  1000 requests in 2.00s, 43.90KB read
  Non-2xx or 3xx responses: 10
Requests/sec:    500.00
Transfer/sec:     21.92KB
BENCH_JSON {"requests":1000,"duration_us":2000000,"bytes":44954,"errors":{"connect":0,"read":1,"write":0,"timeout":2,"status":10},"latency_us":{"min":8032,"mean":33104.5,"max":109584,"p50":30350,"p90":54098,"p99":95887,"p999":109584}}
"""


def test_parse_wrk_output_reads_the_done_line():
    result = parse_wrk_output(WRK_STDOUT)
    assert result.requests == 1000
    assert result.duration_s == 2.0
    assert result.non_2xx == 10
    assert result.socket_errors == {"connect": 0, "read": 1, "write": 0, "timeout": 2}
    assert result.failures == 13
    assert result.latency_ms["p50"] == pytest.approx(30.35)
    assert result.latency_ms["p99"] == pytest.approx(95.887)
    # Throughput counts successful responses only, unlike wrk's Requests/sec.
    assert result.ok_per_s == pytest.approx(495.0)


def test_parse_wrk_output_without_the_done_line_is_an_error():
    with pytest.raises(LoadError, match="BENCH_JSON"):
        parse_wrk_output(WRK_STDOUT.replace("BENCH_JSON", "something else"))


def test_wrk_command_pins_the_load_to_its_cpu():
    command = wrk_command(url="http://127.0.0.1:1/predict", bodies="b.jsonl", duration_s=10, connections=32, cpu=1)
    assert command[:3] == ["taskset", "-c", "1"]
    assert "-t1" in command and "-c32" in command and "-d10s" in command
    assert command[-2:] == ["--", "b.jsonl"]
    assert wrk_command(url="u", bodies="b", duration_s=1, connections=1, cpu=None)[0] == "wrk"


def test_bodies_are_distinct_seeded_rows(tmp_path):
    path = tmp_path / "bodies.jsonl"
    bodies = write_bodies(path, rows_per_request=64, count=8, n_features=20, seed=3)
    lines = path.read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[0]) == bodies[0]
    rows = [tuple(row) for body in bodies for row in body["instances"]]
    assert len(rows) == 8 * 64 == len(set(rows))
    assert all(len(row) == 20 for row in rows)
    assert write_bodies(tmp_path / "again.jsonl", rows_per_request=64, count=8, n_features=20, seed=3) == bodies


def _figures(req_per_s, p99_ms, rows=1, non_2xx=0, socket_errors=0):
    return {
        "req_per_s": req_per_s, "rows_per_s": req_per_s * rows, "p50_ms": p99_ms / 2, "p99_ms": p99_ms,
        "p999_ms": p99_ms, "non_2xx": non_2xx, "socket_errors": socket_errors,
    }  # fmt: skip


def _results(mlserve_single, mlserve_batch, memory):
    scenarios = {
        "single_row": {
            "title": "single-row requests",
            "servers": {"fastapi": _figures(300, 200), "flask": _figures(200, 350)},
        },
        "batch_64": {"title": "64-row requests", "servers": {"fastapi": _figures(180, 500, rows=64)}},
    }
    servers = {"fastapi": {"memory": None, "error": None}, "flask": {"memory": None, "error": None}}
    if mlserve_single:
        scenarios["single_row"]["servers"]["mlserve"] = mlserve_single
        scenarios["batch_64"]["servers"]["mlserve"] = mlserve_batch
    servers["mlserve"] = {"memory": memory, "error": None if mlserve_single else "did not start"}
    for scenario in scenarios.values():
        scenario["ratios"] = report.ratios(scenario["servers"])
    results = {
        "settings": {"connections": 32, "duration_s": 10, "warmup_s": 2},
        "servers": servers,
        "scenarios": scenarios,
    }
    results["targets"] = report.evaluate_targets(results)
    return results


def test_ratios_read_as_times_better():
    ratios = report.ratios({"mlserve": _figures(7230, 5), "fastapi": _figures(300, 200), "flask": _figures(200, 350)})
    assert ratios["fastapi"]["req_per_s"] == pytest.approx(24.1)
    assert ratios["flask"]["req_per_s"] == pytest.approx(36.15)
    assert ratios["fastapi"]["p99_lower"] == pytest.approx(40)
    assert report.ratio(1, 0) is None and report.ratio(None, 1) is None


def test_targets_met_and_not_met():
    results = _results(_figures(7230, 12.5), _figures(400, 90, rows=64), {"rss_mb": 150.0, "peak_rss_mb": 180.0})
    verdicts = {v["name"]: v for v in results["targets"]}
    assert verdicts["single_row_speedup"]["met"] is True and verdicts["single_row_speedup"]["actual"] == 24.1
    assert verdicts["single_row_p99"]["met"] is False
    assert verdicts["single_row_errors"]["met"] is True
    assert verdicts["batch_64_rows_per_s"]["met"] is True  # 400 req/s x 64 rows
    assert verdicts["peak_rss"]["met"] is True
    text = report.format_report(results)
    assert "mlserve throughput: 24.1x FastAPI, 36.1x Flask" in text
    assert "[     NOT MET] single-row p99 latency: 12.5 (target <= 10 ms)" in text


def test_errors_fail_the_error_target():
    results = _results(_figures(7230, 5, non_2xx=1), _figures(400, 90, rows=64), None)
    verdicts = {v["name"]: v for v in results["targets"]}
    assert verdicts["single_row_errors"]["met"] is False
    assert verdicts["peak_rss"]["met"] is None


def test_a_server_that_did_not_start_is_not_measured_rather_than_failed():
    results = _results(None, None, None)
    assert {v["met"] for v in results["targets"]} == {None}
    text = report.format_report(results)
    assert "mlserve  not measured: did not start" in text


def test_settings_default_and_reject_bad_values_naming_the_variable():
    assert settings_from_env({}) == BenchSettings()
    settings = settings_from_env({"BENCH_DURATION": "3", "BENCH_WARMUP": "0", "BENCH_SERVERS": "mlserve, flask"})
    assert (settings.duration_s, settings.warmup_s, settings.servers) == (3, 0, ("mlserve", "flask"))
    with pytest.raises(SettingsError, match="BENCH_DURATION"):
        settings_from_env({"BENCH_DURATION": "ten"})
    with pytest.raises(SettingsError, match="BENCH_DURATION"):
        settings_from_env({"BENCH_DURATION": "0"})
    with pytest.raises(SettingsError, match="BENCH_SERVERS"):
        settings_from_env({"BENCH_SERVERS": "mlserve,tornado"})


def test_memory_of_a_process_group():
    assert parse_proc_status("Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t1\n") == {
        "VmHWM": 2048,
        "VmRSS": 1024,
    }
    memory = group_memory(os.getpgid(0))
    assert memory.processes >= 1 and memory.peak_rss_mb >= memory.rss_mb > 0


# A stand-in server: answers GET / and POST /predict with one prediction per row.
STUB_SERVER = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        out = json.dumps({"predictions": [0] * len(body["instances"])}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(out))); self.end_headers()
        self.wfile.write(out)
HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_servers_are_stopped_even_when_the_bench_fails(tmp_path):
    spec = ServerSpec(name="stub", label="stub", argv=(sys.executable, "-c", STUB_SERVER, "{port}"), ready_path="/")
    with (
        pytest.raises(RuntimeError),
        running_server(spec, model_dir=tmp_path, log_path=tmp_path / "stub.log", cpu=None) as server,
    ):
        assert predict(server, {"instances": [[1.0], [2.0]]}) == [0, 0]
        process = server.process
        raise RuntimeError("the bench broke mid-run")
    assert process.poll() is not None


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    spec = ServerSpec(
        name="broken", label="broken", argv=(sys.executable, "-c", "raise SystemExit('no model here')"), ready_path="/"
    )
    log_path = tmp_path / "broken.log"
    with (
        pytest.raises(ServerError, match="broken exited with 1") as caught,
        running_server(spec, model_dir=tmp_path, log_path=log_path, cpu=None),
    ):
        pass
    assert caught.value.summary.endswith("no model here")


class _QuietHTTPServer(ThreadingHTTPServer):
    """wrk closes its connections when its time is up, often while a response is being written:
    that broken pipe is the end of the run, not an error to print (socketserver prints a
    traceback for any exception a handler raises)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (sudo apt-get install -y wrk)")
def test_post_lua_sends_every_body_and_counts_non_2xx(tmp_path):
    seen, lock = [], threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                seen.append(body["instances"][0][0])
            status = 500 if body["instances"][0][0] == bodies[0]["instances"][0][0] else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    bodies = write_bodies(tmp_path / "b.jsonl", rows_per_request=1, count=4, n_features=3)
    httpd = _QuietHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        command = wrk_command(
            url=f"http://127.0.0.1:{httpd.server_port}/predict",
            bodies=tmp_path / "b.jsonl",
            duration_s=1,
            connections=2,
            cpu=None,
        )
        result = run_wrk(command, duration_s=1)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.requests > 0
    assert {b["instances"][0][0] for b in bodies} <= set(seen)
    assert 0 < result.non_2xx < result.requests


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    """A tiny forest in the demo model's layout, as $MODEL_DIR for the baselines."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((200, 20))
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, features[:, 0] > 0)
    joblib.dump(model, tmp_path / "model.joblib")
    (tmp_path / "metadata.json").write_text(json.dumps({"name": "tiny", "version": "7"}))
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    return tmp_path


def _fresh_import(name):
    # The baselines load the model at import, as the seeds do: import them anew per test.
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def _expected(model_dir, rows):
    return joblib.load(model_dir / "model.joblib").predict(np.array(rows)).tolist()


def test_flask_baseline_answers_like_mlserve(model_dir):
    client = _fresh_import("bench.baselines.flask_pickle").app.test_client()
    rows = np.random.default_rng(1).standard_normal((64, 20)).tolist()
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200
    assert response.json == {"predictions": _expected(model_dir, rows), "model": {"name": "tiny", "version": "7"}}
    assert client.get("/ping").status_code == 200


def test_fastapi_baseline_answers_like_mlserve(model_dir):
    from fastapi.testclient import TestClient

    client = TestClient(_fresh_import("bench.baselines.fastapi_pydantic").app)
    rows = np.random.default_rng(2).standard_normal((1, 20)).tolist()
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200
    assert response.json() == {"predictions": _expected(model_dir, rows), "model": {"name": "tiny", "version": "7"}}
    assert client.post("/predict", json={"instances": "not rows"}).status_code == 422
    assert client.get("/ping").status_code == 200


def test_cpu_used_by_others_on_the_pinned_cores():
    proc_stat = "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 100 0 50 900 7 10 5 0 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n"
    assert cpu.core_busy_s(0, proc_stat) == pytest.approx(165 / cpu.TICKS_PER_S)  # iowait and idle not busy
    with pytest.raises(ValueError):
        cpu.core_busy_s(7, proc_stat)
    before = cpu.CpuSnapshot(when_s=0, server_core_s=0, wrk_core_s=0, server_s=0, wrk_s=0)
    after = cpu.CpuSnapshot(when_s=10, server_core_s=10, wrk_core_s=4, server_s=9, wrk_s=4)
    assert cpu.foreign_pct(before, after) == {"server_core": 10.0, "wrk_core": 0.0}
    assert cpu.group_cpu_s(os.getpgid(0)) > 0


def test_server_cpu_per_request():
    before = cpu.CpuSnapshot(when_s=0, server_core_s=0, wrk_core_s=0, server_s=1.0, wrk_s=0)
    after = cpu.CpuSnapshot(when_s=10, server_core_s=10, wrk_core_s=4, server_s=3.0, wrk_s=4)
    assert cpu.server_us_per_request(before, after, 50_000) == 40.0
    assert cpu.server_us_per_request(before, after, 0) is None


def test_measurements_disturbed_by_other_processes_are_flagged():
    results = _results(_figures(7230, 5), _figures(400, 90, rows=64), None)
    assert report.noisy_measurements(results) == []
    results["scenarios"]["single_row"]["servers"]["mlserve"]["foreign_cpu_pct"] = {"server_core": 35.0, "wrk_core": 1.0}
    assert report.noisy_measurements(results) == ["mlserve, single-row requests: server core 35%, wrk core 1%"]
    assert "WARNING: other processes used over 10% of a pinned core" in report.format_report(results)
