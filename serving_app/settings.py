"""Server settings, read once from the environment.

A frozen dataclass rather than pydantic: the serving image installs only
`serving_app/requirements.txt`, and a dozen numbers do not need a validation library.
Every field is one `MLSERVE_*` variable; the CLI (`python -m serving_app`) overrides a few
of them. Deployments (the Kubernetes Deployment, the SageMaker model) set only what
differs from these defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

ENV_PREFIX = "MLSERVE_"


class SettingsError(ValueError):
    """One or more settings are invalid; the message lists every bad variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How the model server runs. Defaults suit one pod with one CPU."""

    model_uri: str = "/opt/ml/model"
    """Where the model artifact is: a directory, or s3://bucket/prefix. /opt/ml/model is
    where SageMaker unpacks `ModelDataUrl`."""

    model_cache_dir: str = ""
    """Where an s3:// artifact is downloaded to; empty means a temporary directory."""

    host: str = "0.0.0.0"
    """Interface to bind. 0.0.0.0 in a container; tests and benchmarks use 127.0.0.1."""

    port: int = 8080
    """Port to listen on (0: any free port). SageMaker requires 8080
    (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html)."""

    workers: int = 1
    """Server processes. 1 on Kubernetes (scale with pods); `serve` defaults it to the CPU
    count, since a SageMaker instance runs one container."""

    max_batch_size: int = 64
    """Most rows in one model call. A request with more rows runs alone, never split."""

    max_batch_wait_ms: float = 2.0
    """Longest a request is held back, while the model is idle, hoping others join its
    batch. The batcher holds only when the next request is expected sooner than a batch
    takes to run (see `batching.py`); 0 never holds."""

    max_inline_batch_ms: float = 1.0
    """A batch the model has lately been finishing within this many milliseconds runs on the
    event loop itself instead of the model worker thread (the hop costs more than such a
    prediction); a slower model always runs on the thread, so no batch stalls the event loop
    (probes, admission, parsing) for long. 0: always the thread."""

    max_body_bytes: int = 1_048_576
    """Largest request body accepted (413 above it)."""

    max_rows_per_request: int = 1024
    """Most rows in one request (413 above it: like the body limit, a size the client must cut)."""

    max_concurrent_requests: int = 64
    """Inference requests processed at once (being parsed, queued for the model, in it, being
    answered). More wait, unparsed and in arrival order, for room (see `queue_wait_target_ms`).
    64 (the default `max_batch_size`) keeps one CPU's model busy with full batches: at 2,000
    connections it answered as many requests per second as 128 or 256, with the answered
    requests' p99 at 23-27 ms against 39 ms (128) and 64-74 ms (256) (bench/README.md)."""

    max_queued_rows: int = 4096
    """Rows processed at once. A request counts by its declared size (Content-Length, in rows
    at the bytes per row seen so far) until its body is parsed, then by its real row count;
    one that does not fit waits for room before its body is read. The default holds 4
    requests of `max_rows_per_request` rows: one in the model, the next ones parsed and
    waiting, so the model never idles."""

    max_queued_bytes: int = 4 * 1_048_576
    """Request body bytes processed at once (declared, or `max_body_bytes` for a body sent
    without a length); a body that does not fit waits for room before it is read. Bounds the
    memory parsed requests hold (a JSON body becomes several times its size in Python
    objects) where rows cannot. The default holds 4 bodies of the default `max_body_bytes`."""

    queue_wait_target_ms: float = 10.0
    """How long a request may be expected to wait for room (the requests ahead of it, at the
    pace requests have been finishing); one expected to wait longer is refused at once with
    503 + Retry-After, before its body is read, so answered requests see a short queue. On
    one CPU, 10 ms keeps the p99 of answered single-row requests under 50 ms at 2,000
    connections whose clients honour Retry-After (bench/README.md). A request on a connection
    refused less than Retry-After ago (its client retried at once) waits instead: refusing
    it again would shed nothing. At most `max_queue_wait_ms`."""

    max_queue_wait_ms: float = 500.0
    """Longest a request ever waits for room: one that waited this long is refused then
    (503 + Retry-After), so that no request waits into its client's timeout. 0: never wait,
    refuse whatever does not fit at once."""

    request_timeout_s: float = 10.0
    """Longest a request may stay in the server, from its arrival (waiting for room, the
    model's queue, the model), before a 504 (or a 503 if it never got room). A request whose
    rows are not expected to finish within it (the rows ahead of it in the model's queue, at
    the model's measured speed) is refused with 503 + Retry-After at once instead."""

    shutdown_grace_s: float = 20.0
    """After SIGTERM: how long in-flight requests may take to finish before the process
    exits anyway. Keep it below the pod's terminationGracePeriodSeconds (default 30)."""

    log_level: str = "INFO"
    """Python log level name. Requests are not logged one by one at INFO."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("workers", "max_batch_size", "max_body_bytes", "max_rows_per_request",
                     "max_concurrent_requests", "max_queued_rows", "max_queued_bytes"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_batch_wait_ms", "max_inline_batch_ms", "queue_wait_target_ms", "max_queue_wait_ms",
                     "request_timeout_s", "shutdown_grace_s"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be 0..65535, got {self.port}")
        if self.max_queued_rows < self.max_rows_per_request:
            # Otherwise a request within the row limit could never be queued.
            problems.append(f"max_queued_rows ({self.max_queued_rows}) must be >= "
                            f"max_rows_per_request ({self.max_rows_per_request})")
        if self.max_queued_bytes < self.max_body_bytes:
            problems.append(f"max_queued_bytes ({self.max_queued_bytes}) must be >= "
                            f"max_body_bytes ({self.max_body_bytes})")
        if self.log_level.upper() not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            problems.append(f"log_level must be a Python log level name, got {self.log_level!r}")
        if not self.model_uri:
            problems.append("model_uri must not be empty")
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `MLSERVE_<FIELD>` variables, then `overrides` (from the CLI).

        Raises SettingsError naming every variable that is not a valid value.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        problems = []
        for field in fields(cls):
            variable = ENV_PREFIX + field.name.upper()
            if variable not in environ:
                continue
            raw = environ[variable]
            try:
                values[field.name] = _parse(raw, field.type)
            except ValueError:
                problems.append(f"{variable}={raw!r} is not a valid {field.type}")
        if problems:
            raise SettingsError("invalid settings: " + "; ".join(problems))
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The `MLSERVE_*` variables that reproduce these settings (for worker processes)."""
        return {ENV_PREFIX + field.name.upper(): str(getattr(self, field.name)) for field in fields(self)}


def _parse(raw: str, type_name: object) -> object:
    # `from __future__ import annotations` makes field types strings.
    if type_name == "int":
        return int(raw.replace("_", ""))
    if type_name == "float":
        return float(raw)
    return raw
