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

from serving_app.server import metrics_directory
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


def test_metrics_of_two_workers_add_up(spawn):
    """Each worker counts its own requests; a scrape, whichever worker answers it, reports the
    sum. The worker that served a request shows in its generated X-Request-ID (a per-process
    prefix), so the test sends until both served some."""
    server = spawn(*FAKE_SERVER, "--model", "fake", "--workers", "2")
    server.wait_ready()
    served_by: dict[str, int] = {}
    while len(served_by) < 2 or sum(served_by.values()) < 20:
        assert sum(served_by.values()) < 2000, f"one worker served everything: {served_by}"
        with httpx.Client(base_url=server.url) as client:  # a new connection: the kernel picks a worker
            response = client.post("/predict", json={"instances": [[1, 2, 3, 4]]})
        assert response.status_code == 200
        worker = response.headers["x-request-id"].split("-")[0]
        served_by[worker] = served_by.get(worker, 0) + 1
    sent = sum(served_by.values())
    answers = set()
    for _ in range(8):
        with httpx.Client(base_url=server.url) as client:
            text = client.get("/metrics").text
        samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                   for line in text.splitlines() if line and not line.startswith("#")}
        answers.add((samples['mlserve_requests_total{route="/predict",status="200"}'],
                     samples["mlserve_request_duration_seconds_count{route=\"/predict\"}"],
                     samples["mlserve_batch_size_rows_sum"], samples["mlserve_ready"]))
    assert answers == {(sent, sent, sent, 1.0)}  # every scrape: both workers' counts, added up
    directory = metrics_directory(server.process.pid)
    assert len(list(directory.glob("worker-*.values"))) == 2
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0
    assert not directory.exists()  # the supervisor removes it on the way out


def test_model_copies_left_by_earlier_runs_are_removed_at_start(spawn, tmp_path):
    import tarfile

    from serving_app.models.sources import resolve_source

    cache = tmp_path / "cache"
    archive = tmp_path / "model.tar.gz"
    (tmp_path / "metadata.json").write_text("{}")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "metadata.json", arcname="metadata.json")
    earlier = resolve_source(str(archive), cache_dir=str(cache)).directory  # what a load leaves behind
    (cache / "notes.txt").write_text("not a model copy")
    server = spawn(*FAKE_SERVER, "--model", "fake", env={"MLSERVE_MODEL_CACHE_DIR": str(cache)})
    server.wait_ready()
    assert not earlier.exists()
    assert (cache / "notes.txt").exists()


def test_metric_directories_of_dead_supervisors_are_removed(tmp_path):
    from serving_app.server import remove_stale_metrics_directories

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"mlserve-metrics-{dead.pid}").mkdir()
    (tmp_path / f"mlserve-metrics-{os.getpid()}").mkdir()
    (tmp_path / "mlserve-metrics-notapid").mkdir()
    remove_stale_metrics_directories(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"mlserve-metrics-{os.getpid()}", "mlserve-metrics-notapid"]


def test_sigterm_turns_readiness_off_before_the_server_starts_closing_its_listener():
    """The handler drain_on_exit_signals chains in front of uvicorn's: when uvicorn's runs (it
    starts the shutdown that closes the listener), readiness is already off."""
    from serving_app.app import create_app
    from serving_app.server import drain_on_exit_signals
    from serving_app.settings import Settings
    from tests.serving_app.fakes import FakeModel

    app = create_app(Settings(), FakeModel())
    app.plane.warmed_up = True  # as after the warm-up
    seen_by_uvicorn = []
    installed = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        for signum in installed:
            signal.signal(signum, lambda received, frame: seen_by_uvicorn.append((received, app.plane.ready)))
        drain_on_exit_signals(app)
        assert app.plane.ready
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    finally:
        for signum, handler in installed.items():
            signal.signal(signum, handler)
    assert seen_by_uvicorn == [(signal.SIGTERM, False)]
