"""The load: request bodies, one wrk run, and the parsing of what wrk reports."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LUA_SCRIPT = Path(__file__).with_name("post.lua")
"""The client that sends its next request at once, whatever the answer."""
RETRY_AFTER_SCRIPT = Path(__file__).with_name("post_retry_after.lua")
"""The client that waits out a Retry-After and times each request per status. It needs a
server that echoes X-Request-Id (mlserve does; the hello-world app does not)."""
# Both scripts' done() print the exact figures on one line behind this marker.
RESULT_MARKER = "BENCH_JSON "


class LoadError(Exception):
    """wrk is missing, failed, or printed no result line."""


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One measured load shape."""

    name: str
    """Key in results.json, e.g. "single_row"."""
    title: str
    """One line for the report."""
    rows_per_request: int
    """Rows in each request's `instances`."""
    distinct_bodies: int
    """How many different bodies wrk cycles through, so the server sees distinct rows."""


SCENARIOS = (
    Scenario(name="single_row", title="single-row requests", rows_per_request=1, distinct_bodies=1024),
    Scenario(name="batch_64", title="64-row requests", rows_per_request=64, distinct_bodies=128),
)


def write_bodies(path: Path, *, rows_per_request: int, count: int, n_features: int, seed: int = 0) -> list[dict]:
    """Write `count` JSON bodies, one per line, of distinct seeded rows; return them.

    Rows are standard normal, which is the scale of the demo model's training data
    (sklearn's make_classification), so predictions are real, not one constant class.
    """
    rng = np.random.default_rng(seed)
    rows = np.round(rng.standard_normal((count, rows_per_request, n_features)), 6)
    bodies = [{"instances": batch.tolist()} for batch in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(body, separators=(",", ":")) + "\n" for body in bodies))
    return bodies


@dataclass(frozen=True, kw_only=True)
class WrkResult:
    """The figures of one wrk run. Latencies in milliseconds."""

    requests: int
    """Responses received, any status."""
    duration_s: float
    non_2xx: int
    """Responses with a status outside 200..399 (wrk's "Non-2xx or 3xx responses")."""
    socket_errors: dict[str, int]
    """connect / read / write / timeout counts (wrk's "Socket errors")."""
    latency_ms: dict[str, float]
    """min, mean, max, p50, p90, p99, p999 over all responses: wrk's histogram, corrected for
    coordinated omission (wrk's stats_correct)."""
    by_status: dict[str, dict[str, float]] | None = None
    """post_retry_after.lua only: per HTTP status ("200", "503"), `count` and p50_ms, p99_ms,
    p999_ms, max_ms, timed by the script itself from each request's send to its answer."""
    untimed: int | None = None
    """post_retry_after.lua only: responses without the echoed X-Request-Id, so in no by_status."""
    retry_after_waits: int | None = None
    """post_retry_after.lua only: Retry-After waits the connections took."""

    @property
    def ok_per_s(self) -> float:
        """Successful responses per second: wrk's own Requests/sec also counts the errors."""
        return (self.requests - self.non_2xx) / self.duration_s if self.duration_s else 0.0

    @property
    def failures(self) -> int:
        """Non-2xx responses plus socket errors: every request that did not get an answer."""
        return self.non_2xx + sum(self.socket_errors.values())


def parse_wrk_output(stdout: str) -> WrkResult:
    """Read the `BENCH_JSON {...}` line post.lua's (or post_retry_after.lua's) done() prints."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            raw = json.loads(line[len(RESULT_MARKER) :])
            break
    else:
        raise LoadError("wrk printed no BENCH_JSON line (did post.lua's done() run?)")
    errors = dict(raw["errors"])
    return WrkResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        non_2xx=errors.pop("status"),
        socket_errors=errors,
        latency_ms={key: value / 1000 for key, value in raw["latency_us"].items()},
        by_status=None if "by_status" not in raw else {
            status: {"count": fig["count"], **{f"{key}_ms": fig[key] / 1000 for key in ("p50", "p99", "p999", "max")}}
            for status, fig in raw["by_status"].items()
        },
        untimed=raw.get("untimed"),
        retry_after_waits=raw.get("retry_after_waits"),
    )  # fmt: skip


def wrk_command(
    *, url: str, bodies: Path, duration_s: int, connections: int, cpu: int | None, timeout_s: int = 5,
    script: Path = LUA_SCRIPT,
) -> list[str]:
    """The wrk command line: one thread, `connections` keep-alive connections, pinned to `cpu`,
    the client being `script` (LUA_SCRIPT or RETRY_AFTER_SCRIPT)."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s}s",
        "-s", str(script), url, "--", str(bodies),
    ]  # fmt: skip
    return (["taskset", "-c", str(cpu)] if cpu is not None else []) + command


def run_wrk(command: list[str], *, duration_s: int) -> WrkResult:
    """Run wrk, bounded in time, and parse its result."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 30)
    except FileNotFoundError as error:
        raise LoadError(f"{error.filename} not found: install it (apt-get install -y wrk)") from error
    except subprocess.TimeoutExpired as error:
        raise LoadError(f"wrk ran past {duration_s + 30} s") from error
    if completed.returncode != 0:
        raise LoadError(f"wrk exited {completed.returncode}: {completed.stderr.strip() or completed.stdout.strip()}")
    return parse_wrk_output(completed.stdout)


def figures(result: WrkResult, rows_per_request: int) -> dict:
    """The reported figures of one wrk run. req/s and rows/s count successful responses only.

    With post_retry_after.lua's per-status timing, also the answered (200) requests' own
    latency, the refusals (503) per second and their p99, the Retry-After waits taken and the
    responses that could not be timed; an `answered_*` or `refused_p99_ms` figure is None when
    no response had that status.
    """
    latency = result.latency_ms
    out = {
        "requests": result.requests,
        "duration_s": round(result.duration_s, 3),
        "req_per_s": round(result.ok_per_s, 1),
        "rows_per_s": round(result.ok_per_s * rows_per_request, 1),
        "p50_ms": latency["p50"],
        "p90_ms": latency["p90"],
        "p99_ms": latency["p99"],
        "p999_ms": latency["p999"],
        "max_ms": latency["max"],
        "non_2xx": result.non_2xx,
        "socket_errors": sum(result.socket_errors.values()),
        "socket_errors_by_kind": result.socket_errors,
    }
    if result.by_status is not None:
        answered, refused = result.by_status.get("200"), result.by_status.get("503")
        out |= {
            "answered_p50_ms": answered["p50_ms"] if answered else None,
            "answered_p99_ms": answered["p99_ms"] if answered else None,
            "answered_max_ms": answered["max_ms"] if answered else None,
            "refused_per_s": round(refused["count"] / result.duration_s, 1) if refused and result.duration_s else 0.0,
            "refused_p99_ms": refused["p99_ms"] if refused else None,
            "retry_after_waits": result.retry_after_waits,
            "untimed": result.untimed,
            "by_status": result.by_status,
        }
    return out
