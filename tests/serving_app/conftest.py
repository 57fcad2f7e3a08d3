"""Real servers on 127.0.0.1 for the serving tests: uvicorn in a thread (the same config the
CLI uses: httptools, uvloop, lifespan), reached with httpx over real sockets.

Servers are module- or session-scoped: starting one costs a warm-up, the demo model a
training and an ONNX conversion.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from serving_app.app import ServingApp, create_app
from serving_app.models.base import Model
from serving_app.server import uvicorn_config
from serving_app.settings import Settings
from tests.serving_app.fakes import FakeModel

ROOT = Path(__file__).resolve().parents[2]


class RunningServer:
    """A started server: its app (plane, metrics), base URL, and a sync client."""

    def __init__(self, app: ServingApp, url: str, server: uvicorn.Server) -> None:
        self.app = app
        self.url = url
        self.server = server
        self.client = httpx.Client(base_url=url, timeout=30)

    def metric(self, name: str, **labels: str) -> float:
        """The current value of one sample, 0.0 if absent."""
        value = self.app.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(model: Model, **setting_values: object) -> Iterator[RunningServer]:
    """Serve `model` with `Settings(**setting_values)` on a free 127.0.0.1 port until exit."""
    settings = Settings(host="127.0.0.1", port=free_port(), **setting_values)
    app = create_app(settings, model)
    server = uvicorn.Server(uvicorn_config(settings, app))
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.005)
    running = RunningServer(app, f"http://127.0.0.1:{settings.port}", server)
    try:
        yield running
    finally:
        running.client.close()
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[RunningServer]:
    """A fast fake model with default limits, shared by a test module."""
    with serve(FakeModel()) as running:
        yield running


@pytest.fixture(scope="session")
def demo_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo random forest artifact (trained once per test process)."""
    from serving_app.demo_model import build_demo_artifact

    return build_demo_artifact(tmp_path_factory.mktemp("demo-model"))


class ServerProcess:
    """`python -m ...` serving on 127.0.0.1: the process, its URL, and its stderr so far."""

    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def stderr(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.stderr()}")
            try:
                if httpx.get(self.url + "/ping", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {timeout_s} s:\n{self.stderr()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    """Start `python <args>` (cwd: the repo) with MLSERVE_* env; processes are killed at teardown."""
    started: list[ServerProcess] = []

    def _spawn(*args: str, env: dict[str, str] | None = None, port: int | None = None) -> ServerProcess:
        import os

        port = port or free_port()
        log = tmp_path / f"server-{len(started)}.log"
        full_env = {**os.environ, "MLSERVE_HOST": "127.0.0.1", "MLSERVE_PORT": str(port), **(env or {})}
        with open(log, "w") as stderr:
            process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=full_env,
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
        started.append(server)
        return server

    yield _spawn
    for server in started:
        server.stop()
