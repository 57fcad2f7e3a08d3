"""The server as a process: graceful shutdown on SIGTERM, worker processes, startup failure.

Run through the real CLI (`python -m serving_app`, or `tests.serving_app.fake_server`,
which is the same CLI with the fake loader so a test can make the model slow).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import orjson

from tests.serving_app.conftest import ROOT

FAKE_SERVER = ("-m", "tests.serving_app.fake_server")


def _post_in_background(url: str, body: dict) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def send() -> None:
        try:
            outcome["response"] = httpx.post(url, json=body, timeout=30)
        except httpx.HTTPError as error:  # pragma: no cover - reported by the assertion
            outcome["error"] = error

    thread = threading.Thread(target=send)
    thread.start()
    return thread, outcome


def _refused_or_503(url: str) -> bool:
    try:
        return httpx.get(url + "/ping", timeout=2).status_code == 503
    except httpx.TransportError:
        return True


def test_sigterm_drains_in_flight_request_then_exits(spawn):
    server = spawn(*FAKE_SERVER, "--model", "fake:1.0", env={"MLSERVE_SHUTDOWN_GRACE_S": "5"})
    server.wait_ready()
    thread, outcome = _post_in_background(server.url + "/predict", {"instances": [[1, 2, 3, 4]]})
    time.sleep(0.3)  # the request is now inside the 1 s model call
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(0.3)
    assert _refused_or_503(server.url), "a draining server must not look ready"
    thread.join(10)
    response = outcome["response"]
    assert response.status_code == 200 and response.json()["predictions"] == [30.0]
    assert server.process.wait(timeout=5) == 0
    assert time.monotonic() - signalled < 5
    log = server.stderr()
    assert "draining" in log
    for line in log.splitlines():  # every log line is one JSON object
        orjson.loads(line)


def test_grace_period_bounds_shutdown_with_a_hung_model(spawn):
    server = spawn(*FAKE_SERVER, "--model", "fake:0.3",
                   env={"MLSERVE_SHUTDOWN_GRACE_S": "0.5", "MLSERVE_REQUEST_TIMEOUT_S": "60"})
    server.wait_ready()
    # 0.3 s per call and each 64-row request runs alone: 3 s of work queued, grace 0.5 s.
    threads = [_post_in_background(server.url + "/predict", {"instances": [[i, 0, 0, 0]] * 64})
               for i in range(10)]
    time.sleep(0.2)
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    server.process.wait(timeout=10)
    assert time.monotonic() - signalled < 2.5  # grace 0.5 s + worker stop 1 s + slack
    for thread, _ in threads:
        thread.join(10)


def test_serve_runs_one_worker_per_cpu_and_drains_them_all(spawn):
    server = spawn(*FAKE_SERVER, "serve", "--model", "fake", env={"MLSERVE_SHUTDOWN_GRACE_S": "5"})
    server.wait_ready()
    assert {httpx.get(server.url + "/ping").status_code for _ in range(5)} == {200}
    children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= min(2, len(os.sched_getaffinity(0))), children
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0


def test_bad_artifact_fails_startup_with_what_and_where(tmp_path):
    missing = tmp_path / "no-such-model"
    result = subprocess.run([sys.executable, "-m", "serving_app", "--model", str(missing), "--port", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert str(missing) in result.stderr
    entries = [orjson.loads(line) for line in result.stderr.splitlines()]
    error = next(entry for entry in entries if entry["level"] == "ERROR")
    assert error["where"] == str(missing) and error["what"]


def test_bad_artifact_fails_serve_form_too(tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "metadata.json").write_text("{not json")
    result = subprocess.run([sys.executable, "-m", "serving_app", "serve", "--model", str(corrupt), "--port", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert str(corrupt) in result.stderr


def test_bad_settings_exit_2_naming_the_variable():
    result = subprocess.run([sys.executable, "-m", "serving_app", "--model", "x"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={"MLSERVE_MAX_BATCH_SIZE": "lots", "PATH": "/usr/bin"})
    assert result.returncode == 2
    assert "MLSERVE_MAX_BATCH_SIZE='lots'" in result.stderr
