"""The client that honours Retry-After (bench/post_retry_after.lua) and what bench/load.py reads of
it: its per-status figures parsed, the figures derived from them, and the script itself run by wrk
against a stand-in server that refuses some requests with 503 + Retry-After."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

import pytest

from bench.load import (
    LUA_SCRIPT,
    RETRY_AFTER_SCRIPT,
    figures,
    parse_wrk_output,
    run_wrk,
    write_bodies,
    wrk_command,
)
from tests.test_bench import WRK_STDOUT, _QuietHTTPServer

# What `wrk -s bench/post_retry_after.lua` prints after wrk's own summary (microseconds).
RETRY_AFTER_LINE = (
    'BENCH_JSON {"requests":2600,"duration_us":2000000,"bytes":44954,'
    '"errors":{"connect":0,"read":0,"write":0,"timeout":1,"status":600},'
    '"latency_us":{"min":80,"mean":3104.5,"max":109584,"p50":2350,"p90":5098,"p99":9887,"p999":109584},'
    '"by_status":{"200":{"count":1998,"p50":2400,"p99":31000,"p999":52000,"max":61234},'
    '"503":{"count":600,"p50":90,"p99":410,"p999":900,"max":1200}},"untimed":2,"retry_after_waits":598}'
)


def test_parse_wrk_output_keeps_the_per_status_figures_of_the_retry_after_client():
    result = parse_wrk_output("Running 2s test @ http://127.0.0.1:8011/predict\n" + RETRY_AFTER_LINE + "\n")
    assert result.requests == 2600 and result.non_2xx == 600
    assert result.by_status["200"] == {"count": 1998, "p50_ms": 2.4, "p99_ms": 31.0, "p999_ms": 52.0,
                                       "max_ms": 61.234}  # fmt: skip
    assert result.by_status["503"]["count"] == 600 and result.by_status["503"]["p99_ms"] == pytest.approx(0.41)
    assert (result.untimed, result.retry_after_waits) == (2, 598)
    plain = parse_wrk_output(WRK_STDOUT)  # post.lua prints none of them
    assert (plain.by_status, plain.untimed, plain.retry_after_waits) == (None, None, None)


def test_figures_add_the_answered_and_refused_figures_when_the_script_timed_them():
    fig = figures(parse_wrk_output(RETRY_AFTER_LINE), rows_per_request=1)
    assert fig["req_per_s"] == 1000.0  # (2,600 - 600) / 2 s: answered only
    assert (fig["answered_p50_ms"], fig["answered_p99_ms"], fig["answered_max_ms"]) == (2.4, 31.0, 61.234)
    assert fig["p99_ms"] == pytest.approx(9.887)  # wrk's own, every status: not the answered p99
    assert fig["refused_per_s"] == 300.0 and fig["refused_p99_ms"] == pytest.approx(0.41)
    assert (fig["retry_after_waits"], fig["untimed"]) == (598, 2)
    assert fig["by_status"]["503"]["count"] == 600
    nothing_refused = RETRY_AFTER_LINE.replace(',"503":{"count":600,"p50":90,"p99":410,"p999":900,"max":1200}', "")
    fig = figures(parse_wrk_output(nothing_refused), rows_per_request=1)
    assert fig["refused_per_s"] == 0.0 and fig["refused_p99_ms"] is None
    assert "answered_p99_ms" not in figures(parse_wrk_output(WRK_STDOUT), rows_per_request=1)


def test_wrk_command_runs_the_client_it_is_given():
    def script(command):
        return command[command.index("-s") + 1]

    assert script(wrk_command(url="u", bodies="b", duration_s=1, connections=1, cpu=None)) == str(LUA_SCRIPT)
    command = wrk_command(url="u", bodies="b", duration_s=1, connections=1, cpu=None, script=RETRY_AFTER_SCRIPT)
    assert script(command) == str(RETRY_AFTER_SCRIPT) and RETRY_AFTER_SCRIPT.is_file()


ANSWER_DELAY_S = 0.02
"""The stand-in server's think time before a 200; its 503s are immediate."""


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (sudo apt-get install -y wrk)")
def test_post_retry_after_lua_waits_out_retry_after_and_times_each_status(tmp_path):
    received, sent, lock = Counter(), Counter(), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        """Every 5th request is refused with 503 + Retry-After: 1, the others answered 200 after
        ANSWER_DELAY_S; every answer echoes X-Request-Id, as mlserve does."""

        protocol_version = "HTTP/1.1"

        def do_POST(self):
            json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                received["requests"] += 1
                refuse = received["requests"] % 5 == 0
            if not refuse:
                time.sleep(ANSWER_DELAY_S)
            self.send_response(503 if refuse else 200)
            self.send_header("X-Request-Id", self.headers["X-Request-Id"])
            if refuse:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            with lock:
                sent[503 if refuse else 200] += 1

        def log_message(self, *args):
            pass

    write_bodies(tmp_path / "b.jsonl", rows_per_request=1, count=4, n_features=3)
    httpd = _QuietHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    connections = 4
    try:
        command = wrk_command(url=f"http://127.0.0.1:{httpd.server_port}/predict", bodies=tmp_path / "b.jsonl",
                              duration_s=1, connections=connections, cpu=None, script=RETRY_AFTER_SCRIPT)
        result = run_wrk(command, duration_s=1)
    finally:
        httpd.shutdown()
        httpd.server_close()
    by_status = result.by_status
    assert set(by_status) == {"200", "503"} and result.untimed == 0
    # Every response wrk counted is in one status, and each is one the server sent: wrk stops with
    # at most one request in flight per connection, whose answer it never reads.
    assert by_status["200"]["count"] + by_status["503"]["count"] == result.requests
    assert sum(sent.values()) - connections <= result.requests <= sum(sent.values())
    assert sent[503] - connections <= by_status["503"]["count"] <= sent[503]
    assert result.non_2xx == by_status["503"]["count"]
    assert result.retry_after_waits > 0
    # The script's own clock: an answer cannot come sooner than the server's think time.
    assert by_status["200"]["p50_ms"] >= ANSWER_DELAY_S * 1000
