"""The servers under test: how each is started, when it is ready, what memory it holds,
and that it is always stopped (process group, also on Ctrl-C or error)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class ServerError(Exception):
    """A server did not start, did not become ready, or answered /predict wrongly.

    The first line of the message says what; the lines after it, if any, are the
    end of the server's log.
    """

    @property
    def summary(self) -> str:
        """The first line and the last log line: enough for a table cell."""
        lines = [line for line in str(self).splitlines() if line.strip()]
        return lines[0] if len(lines) < 2 else f"{lines[0]}: {lines[-1].strip()}"


@dataclass(frozen=True, kw_only=True)
class ServerSpec:
    """How to run one server under test."""

    name: str
    """Short key: "mlserve", "fastapi", "flask"."""
    label: str
    """What it is, for the report."""
    argv: tuple[str, ...]
    """Command line; "{port}" is replaced by the port. Runs from the repository root."""
    ready_path: str
    """GET path that answers 200 once the model is loaded."""


def server_specs(python: str, model_dir: Path) -> dict[str, ServerSpec]:
    """The servers, keyed by name: mlserve, the two seed-project baselines, the hello-world
    ceiling, mlserve without its model (the floor of the hello ratio) and the least batching
    server giving mlserve's answer (the ratio's ceiling for any batching server)."""
    model = str(model_dir)
    return {
        "mlserve": ServerSpec(
            name="mlserve",
            label="mlserve (serving_app, uvicorn, 1 worker)",
            argv=(python, "-m", "serving_app", "--model", model, "--host", "127.0.0.1", "--port", "{port}"),
            ready_path="/v2/health/ready",
        ),
        "fastapi": ServerSpec(
            name="fastapi",
            label="FastAPI + pydantic (uvicorn, 1 worker)",
            argv=(python, "-m", "uvicorn", "bench.baselines.fastapi_pydantic:app", "--host", "127.0.0.1")
            + ("--port", "{port}", "--workers", "1"),
            ready_path="/ping",
        ),
        "hello": ServerSpec(
            name="hello",
            label="hello-world ASGI app on mlserve's uvicorn configuration (the stack's ceiling)",
            argv=(python, "-m", "bench.baselines.hello_asgi", "--host", "127.0.0.1", "--port", "{port}"),
            ready_path="/",
        ),
        "no_model": ServerSpec(
            name="no_model",
            label="mlserve's app with its model replaced by a constant answer (the hello ratio's floor)",
            argv=(python, "-m", "bench.baselines.mlserve_no_model", "--model", model, "--host", "127.0.0.1")
            + ("--port", "{port}"),
            ready_path="/v2/health/ready",
        ),
        "bare": ServerSpec(
            name="bare",
            label="mlserve's answer from a bare batching app: no admission, checks or metrics (the ratio's ceiling)",
            argv=(python, "-m", "bench.baselines.bare_batching", "--model", model, "--host", "127.0.0.1")
            + ("--port", "{port}"),
            ready_path="/",
        ),
        "flask": ServerSpec(
            name="flask",
            label="Flask + pickle (app.run threaded=True)",
            argv=(python, "-m", "bench.baselines.flask_pickle", "--host", "127.0.0.1", "--port", "{port}"),
            ready_path="/ping",
        ),
    }


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RunningServer:
    """A started, ready server."""

    spec: ServerSpec
    process: subprocess.Popen
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_server(
    spec: ServerSpec, *, model_dir: Path, log_path: Path, cpu: int | None, ready_timeout_s: float = 60
) -> Iterator[RunningServer]:
    """Start `spec` pinned to `cpu` in its own process group, wait until ready, and on
    leaving (normally, on error or on Ctrl-C) stop the whole group."""
    port = free_port()
    argv = [arg.replace("{port}", str(port)) for arg in spec.argv]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]  # taskset execs, so the pid stays the server's
    log_path.parent.mkdir(parents=True, exist_ok=True)
    repo_root = Path(__file__).resolve().parent.parent  # `python -m` puts the cwd on sys.path
    env = {**os.environ, "MODEL_DIR": str(model_dir)}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, cwd=repo_root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        server = RunningServer(spec, process, port)
        _wait_ready(server, log_path=log_path, timeout_s=ready_timeout_s)
        yield server
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen, grace_s: float = 5) -> None:
    """SIGTERM the process group started with `process`, SIGKILL it after `grace_s`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_ready(server: RunningServer, *, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = server.base_url + server.spec.ready_path
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(
                f"{server.spec.name} exited with {server.process.returncode} before it was ready "
                f"(log: {log_path})\n{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise ServerError(
        f"{server.spec.name}: {url} not 200 within {timeout_s:.0f} s (log: {log_path})\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def predict(server: RunningServer, body: dict, timeout_s: float = 10) -> list:
    """POST one body to /predict and return its predictions; ServerError unless it is a
    200 with one prediction per row (so the load measures real answers, not errors)."""
    request = urllib.request.Request(
        server.base_url + "/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ServerError(f"{server.spec.name}: POST /predict -> {error.code}: {error.read()[:300]!r}") from error
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(body["instances"]):
        raise ServerError(f"{server.spec.name}: POST /predict answered {str(answer)[:300]}")
    return predictions


@dataclass(frozen=True, kw_only=True)
class Memory:
    """Resident memory of a server's process group, in MB (10^6 bytes), from /proc/PID/status."""

    rss_mb: float
    """VmRSS now, summed over the group's processes."""
    peak_rss_mb: float
    """VmHWM (the high-water mark of VmRSS since start), summed over the group's processes."""
    processes: int


def group_memory(pgid: int, proc: Path = Path("/proc")) -> Memory:
    """Memory of every process in process group `pgid` (a server and any workers it forks)."""
    rss_kb = hwm_kb = count = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Field 5 of /proc/PID/stat is the process group; the name field before it may
            # hold spaces, so split after its closing parenthesis.
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            status = parse_proc_status((entry / "status").read_text())
        except (OSError, ValueError):
            continue  # exited meanwhile, or a kernel thread
        rss_kb += status.get("VmRSS", 0)
        hwm_kb += status.get("VmHWM", 0)
        count += 1
    return Memory(rss_mb=rss_kb * 1024 / 1e6, peak_rss_mb=hwm_kb * 1024 / 1e6, processes=count)


def parse_proc_status(text: str) -> dict[str, int]:
    """The `Vm*:  N kB` lines of /proc/PID/status, in kB."""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key.startswith("Vm") and rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0])
    return values
