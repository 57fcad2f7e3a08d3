"""Running the app: uvicorn, signals, graceful shutdown, worker processes.

uvicorn with httptools (each response written in one system call: http_protocol.py) and
uvloop (taking new connections in bursts: accept.py), no access log, no proxy-header
middleware: the fastest ASGI server stack for Python we measured (granian 2.8 served a hello-world app at less than half of uvicorn's rate on one
pinned core at 32 connections; bench/README.md). Every process (the only one, or each of
`workers`) builds its app through `AppFactory`: load the artifact, build the app, and make
SIGTERM flip readiness before uvicorn's own handler starts the drain. With `workers > 1` the
supervisor gives the workers a fresh directory for their metric values (metrics_store.py).
At start, model copies earlier runs left in `model_cache_dir` are removed.

Shutdown on SIGTERM (Kubernetes pod deletion, SageMaker instance replacement):
1. readiness turns false at once (/ping and /v2/health/ready answer 503);
2. uvicorn closes the listening socket (no new connections) and idle keep-alive ones;
3. in-flight requests finish, for at most `shutdown_grace_s`;
4. the model worker thread stops and the process exits 0.
Kubernetes should also give the pod a preStop sleep of a few seconds, so endpoints stop
routing to it before step 2 (https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from serving_app.app import ServingApp, create_app
from serving_app.http_protocol import HttpToolsCoalescingProtocol
from serving_app.logs import configure_logging
from serving_app.metrics import Metrics
from serving_app.metrics_store import prepare_directory
from serving_app.models.base import Model, ModelLoadError
from serving_app.settings import Settings

logger = logging.getLogger(__name__)

LoadModel = Callable[..., Model]
"""`load_model(uri, *, cache_dir=None) -> Model`, raising ModelLoadError (serving_app.models.load_model)."""

# Longer than an AWS load balancer's 60 s idle timeout, so the balancer, not the server,
# closes idle connections and never sends a request on a socket the server just closed
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#connection-idle-timeout).
KEEP_ALIVE_S = 75
BACKLOG = 2048
_METRICS_DIRECTORY_PREFIX = "mlserve-metrics-"
_CACHE_ENTRY_PREFIX = "model-"  # serving_app/models/sources.py's scratch folders


def default_load_model(uri: str, *, cache_dir: str | None = None) -> Model:
    """`serving_app.models.load_model`, imported when first needed."""
    from serving_app.models import load_model

    return load_model(uri, cache_dir=cache_dir)


@dataclass(frozen=True)
class AppFactory:
    """Builds the app inside the process that serves it (uvicorn calls it, as `factory=True`).

    Picklable, so worker processes (spawned) receive it with the uvicorn config.
    """

    settings: Settings
    load_model: LoadModel = default_load_model
    worker: bool = False  # a child of the multi-process supervisor
    metrics_directory: str | None = None  # where workers keep their metric values (metrics_store.py)

    def __call__(self) -> ServingApp:
        context = configure_logging(self.settings.log_level)
        try:
            model, load_seconds = load(self.settings, self.load_model)
        except ModelLoadError:
            if self.worker:  # STARTUP_FAILURE tells the supervisor not to restart us in a loop
                sys.exit(STARTUP_FAILURE)
            raise
        context.fields.update({"model_name": model.metadata.name, "model_version": model.metadata.version})
        directory = Path(self.metrics_directory) if self.metrics_directory else None
        app = create_app(self.settings, model, metrics=Metrics(directory), load_seconds=load_seconds)
        drain_on_exit_signals(app)
        return app


def load(settings: Settings, load_model: LoadModel) -> tuple[Model, float]:
    """Load the artifact and time it; ModelLoadError is logged (which problem, where) and re-raised."""
    started = time.perf_counter()
    try:
        model = load_model(settings.model_uri, cache_dir=settings.model_cache_dir or None)
    except ModelLoadError as error:
        logger.error("cannot load model: %s", error,
                     extra={"what": error.what, "where": error.where, "detail": error.detail})
        raise
    seconds = time.perf_counter() - started
    meta = model.metadata
    logger.info("model loaded", extra={"model_name": meta.name, "model_version": meta.version,
                                       "runtime": meta.runtime, "load_seconds": round(seconds, 3)})
    return model, seconds


def drain_on_exit_signals(app: ServingApp) -> None:
    """Chain readiness-off in front of the SIGTERM/SIGINT handlers uvicorn installed.

    uvicorn installs its handlers before it calls the factory, so the chain sees them.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # signals only reach the main thread; embedded servers (tests) drain via lifespan

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(received: int, frame: Any, previous: Any = previous) -> None:
            app.plane.drain()
            if callable(previous):
                previous(received, frame)

        signal.signal(signum, handler)


class _Server(uvicorn.Server):
    async def serve(self, sockets: Any = None) -> None:
        with self.capture_signals():
            await self._serve(sockets)
            # uvicorn re-raises the captured SIGTERM after shutdown, so the process would
            # die of it (exit 143). The drain completed: exit 0 instead.
            self._captured_signals.clear()


def uvicorn_config(settings: Settings, app: ServingApp | AppFactory) -> uvicorn.Config:
    """The uvicorn configuration every server uses (the CLI's and the tests')."""
    return uvicorn.Config(
        app,
        factory=isinstance(app, AppFactory),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=HttpToolsCoalescingProtocol,  # httptools, one write per response (http_protocol.py)
        loop="serving_app.accept:new_event_loop",  # uvloop, taking new connections in bursts (accept.py)
        lifespan="on",
        access_log=False,
        log_config=None,  # logs.configure_logging owns logging
        proxy_headers=False,  # no load balancer headers are used; the middleware costs per request
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
        # Connections a burst may open before they are accepted (the kernel caps it at
        # net.core.somaxconn). Overload is handled by admission (admission.py), per request
        # and before the body is read, not here: uvicorn's own `limit_concurrency` counts
        # open connections too, so past it every request on a keep-alive connection, the
        # readiness probe's included, would get a 503.
        backlog=BACKLOG,
    )


def run(settings: Settings, load_model: LoadModel = default_load_model) -> int:
    """Serve until SIGTERM; the process exit code (non-zero when startup failed)."""
    configure_logging(settings.log_level)
    if settings.model_cache_dir:
        clean_model_cache(Path(settings.model_cache_dir))
    if settings.workers > 1:
        return _run_workers(settings, load_model)
    server = _Server(uvicorn_config(settings, AppFactory(settings, load_model)))
    try:
        server.run()
    except ModelLoadError:
        return 1  # logged by `load`
    except SystemExit as exit_:  # uvicorn's startup failures (port in use, warm-up failed)
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0 if server.started else 1


def _run_workers(settings: Settings, load_model: LoadModel) -> int:
    """Several processes on one socket (SageMaker: one per CPU), under uvicorn's supervisor,
    which restarts a worker that dies and forwards SIGTERM to all of them.

    The parent never loads the model (it would hold a copy for nothing); a worker that
    cannot load it exits with uvicorn's STARTUP_FAILURE, which stops the supervisor
    instead of restarting the worker in a loop.
    """
    from uvicorn.supervisors import Multiprocess

    directory = metrics_directory(os.getpid())
    remove_stale_metrics_directories(directory.parent)
    prepare_directory(directory)  # counts never carry over from an earlier run
    try:
        config = uvicorn_config(settings, AppFactory(settings, load_model, worker=True,
                                                     metrics_directory=str(directory)))
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return 1 if failed else 0


def metrics_directory(supervisor_pid: int) -> Path:
    """Where the workers of the supervisor `supervisor_pid` keep their metric values."""
    return Path(tempfile.gettempdir()) / f"{_METRICS_DIRECTORY_PREFIX}{supervisor_pid}"


def remove_stale_metrics_directories(parent: Path) -> None:
    """Remove the metric directories of supervisors that no longer run (killed before cleaning up)."""
    for directory in parent.glob(f"{_METRICS_DIRECTORY_PREFIX}*"):
        try:
            pid = int(directory.name.removeprefix(_METRICS_DIRECTORY_PREFIX))
            os.kill(pid, 0)
        except ValueError:
            continue  # not one of ours
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except PermissionError:
            continue  # that pid runs, as another user


def clean_model_cache(cache_dir: Path) -> None:
    """Remove the artifact copies earlier runs left in `cache_dir` (each load unpacks or
    downloads into a fresh `model-*` folder there; see serving_app/models/sources.py). At
    start none is in use, and a pod restarted in place keeps its emptyDir between runs."""
    removed = 0
    for entry in cache_dir.glob(f"{_CACHE_ENTRY_PREFIX}*"):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    if removed:
        logger.info("removed %d model copies left by earlier runs", removed, extra={"cache_dir": str(cache_dir)})


def cpu_count() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup v2 CPU quota."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max") as cpu_max:
            return quota_cpus(cpu_max.read(), count)
    except OSError:
        return count


def quota_cpus(cpu_max: str, available: int) -> int:
    """CPUs allowed by a cgroup v2 `cpu.max` line ("max 100000" or "200000 100000"), at least 1."""
    quota, _, period = cpu_max.strip().partition(" ")
    if quota == "max" or not period:
        return available
    return max(1, min(available, int(int(quota) // int(period))))
