"""The concurrency sweep: single-row requests from 32 to 2,000 connections, against mlserve
and against the hello-world ASGI app on the same server stack (the ceiling), and large
(max-size) requests at a few connections and at many.

mlserve is swept twice, by two clients: post.lua, which sends its next request at once
whatever the answer (the stress case, and the base of the hello-world ratio), and
post_retry_after.lua, which waits out a 503's Retry-After as SDKs and callers that back off
do, and times the answered requests apart from the refused ones. The hello-world app is
swept by post.lua only (it does not echo X-Request-Id, which the second client times by).

What it shows: whether answered throughput holds past the point where the server is
saturated, whether latency stays bounded, and whether what cannot be served gets an
immediate 503 instead of waiting into the client's timeout (wrk's `--timeout`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.load import (
    LUA_SCRIPT,
    RETRY_AFTER_SCRIPT,
    LoadError,
    figures,
    run_wrk,
    wrk_command,
)
from bench.servers import RunningServer, ServerError, ServerSpec, running_server
from bench.tables import format_foreign, format_ratio, ratio, table

BASE_POINT_BASELINES = (
    ("no_model", "mlserve without its model (constant answer)",
     "the most the hello ratio can be with any model behind this HTTP path"),
    ("bare", "mlserve's answer from a bare batching app",
     "the most the hello ratio can be for any server that batches the model and gives this answer"),
)
"""The servers measured at the base point only: (name, what it is, what its figure means)."""
BASE_POINT_ONLY = tuple(name for name, _, _ in BASE_POINT_BASELINES)
SWEEP_SERVERS = ("mlserve", "hello", *BASE_POINT_ONLY)
"""mlserve and the hello-world app over the whole sweep; at the first (base) point only,
mlserve without its model (what the hello ratio could be with any model: the ratio's floor)
and mlserve's answer from a bare batching app (what it could be for any server that batches
the model and gives this answer)."""


@dataclass(frozen=True, kw_only=True)
class Load:
    """How each point is measured."""

    duration_s: int
    warmup_s: int
    timeout_s: int
    """wrk's --timeout: a response later than this counts as a client timeout."""
    server_cpu: int | None
    wrk_cpu: int | None


def measure_points(server: RunningServer, *, bodies: Path, connections: tuple[int, ...], load: Load,
                   rows_per_request: int, script: Path = LUA_SCRIPT,
                   progress: Callable[[str], None] = print) -> dict[str, dict]:
    """One wrk run per connection count against /predict, `script` being the client; figures
    keyed by the count (as text, for JSON)."""
    points = {}
    for count in connections:
        command = functools.partial(wrk_command, url=server.base_url + "/predict", bodies=bodies,
                                    connections=count, cpu=load.wrk_cpu, timeout_s=load.timeout_s, script=script)
        if load.warmup_s:
            run_wrk(command(duration_s=load.warmup_s), duration_s=load.warmup_s)
        take = functools.partial(cpu.snapshot, server_cpu=load.server_cpu, wrk_cpu=load.wrk_cpu,
                                 server_pgid=server.process.pid)
        before = take(now_s=time.monotonic()) if load.server_cpu is not None else None
        measured = run_wrk(command(duration_s=load.duration_s), duration_s=load.duration_s)
        fig = figures(measured, rows_per_request)
        if before is not None:
            after = take(now_s=time.monotonic())
            fig["foreign_cpu_pct"] = cpu.foreign_pct(before, after)
            fig["server_cpu_us_per_request"] = cpu.server_us_per_request(before, after, measured.requests)
        points[str(count)] = fig
        progress(f"   {count:>5} connections, {script.name}: {fig['req_per_s']:,.0f} req/s answered, "
                 + (f"p99 of the answered {_ms(fig['answered_p99_ms'])} ms, {fig['refused_per_s']:,.0f} 503/s, "
                    f"{fig['retry_after_waits']} Retry-After waits, " if "answered_p99_ms" in fig else
                    f"p99 {fig['p99_ms']:.1f} ms, {fig['non_2xx']} non-2xx, ")
                 + f"{fig['socket_errors_by_kind'].get('timeout', 0)} client timeouts"
                 + (f", other work on the server's core {fig['foreign_cpu_pct']['server_core']}%" if before else ""))
    return points


def run_sweep(specs: dict[str, ServerSpec], *, model_dir: Path, out: Path, single_row_bodies: Path,
              large_bodies: Path, large_rows: int, connections: tuple[int, ...], large_connections: tuple[int, ...],
              load: Load) -> tuple[dict, bool]:
    """The sweep for mlserve and the hello-world app, and mlserve's large-request points; the
    results (results.json's "sweep") and whether every server started and answered."""
    results: dict = {"connections": list(connections), "timeout_s": load.timeout_s, "servers": {},
                     "large_requests": {"rows_per_request": large_rows, "connections": list(large_connections),
                                        "points": {}, "error": None}}
    harness_ok = True
    for name in SWEEP_SERVERS:
        spec = specs[name]
        record = results["servers"][name] = {"label": spec.label, "error": None, "points": {}}
        if name == "mlserve":
            record["retry_after_points"] = {}
        print(f"-- sweep: {spec.label}", flush=True)
        try:
            with running_server(spec, model_dir=model_dir, log_path=out / "logs" / f"sweep-{name}.log",
                                cpu=load.server_cpu) as server:
                counts = connections[:1] if name in BASE_POINT_ONLY else connections
                record["points"] = measure_points(server, bodies=single_row_bodies, connections=counts,
                                                  load=load, rows_per_request=1)
                if name == "mlserve":
                    print(f"-- sweep: {spec.label}, clients that honour Retry-After", flush=True)
                    record["retry_after_points"] = measure_points(
                        server, bodies=single_row_bodies, connections=connections, load=load, rows_per_request=1,
                        script=RETRY_AFTER_SCRIPT)
                    print(f"-- large requests: {large_rows} rows each", flush=True)
                    results["large_requests"]["points"] = measure_points(
                        server, bodies=large_bodies, connections=large_connections, load=load,
                        rows_per_request=large_rows)
        except (ServerError, LoadError) as error:
            harness_ok = False
            record["error"] = error.summary if isinstance(error, ServerError) else str(error)
            if name == "mlserve":
                results["large_requests"]["error"] = record["error"]
            print(f"   FAILED: {error}", flush=True)
    return results, harness_ok


def format_sweep(sweep: dict) -> list[str]:
    """The sweep's two tables, one per client (one row per connection count), and the
    large-request table."""
    mlserve = sweep["servers"].get("mlserve", {})
    hello = sweep["servers"].get("hello", {})
    lines = ["", ("== concurrency sweep, clients that retry at once (wrk, post.lua): single-row requests, "
                  f"wrk timeout {sweep['timeout_s']} s ==")]
    rows = [("connections", "req/s", "p50 ms", "p99 ms", "503s", "timeouts", "sock err", "hello req/s",
             "vs hello", "CPU us/req", "hello us/req", "other CPU")]
    for count in map(str, sweep["connections"]):
        fig, ceiling = mlserve.get("points", {}).get(count), hello.get("points", {}).get(count)
        if fig is None:
            rows.append((count, f"not measured: {mlserve.get('error') or 'skipped'}"))
            continue
        rows.append((count, f"{fig['req_per_s']:,.0f}", f"{fig['p50_ms']:.2f}", f"{fig['p99_ms']:.2f}",
                     str(fig["non_2xx"]), str(fig["socket_errors_by_kind"].get("timeout", 0)),
                     str(fig["socket_errors"] - fig["socket_errors_by_kind"].get("timeout", 0)),
                     f"{ceiling['req_per_s']:,.0f}" if ceiling else "-",
                     format_ratio(ratio(fig["req_per_s"], ceiling["req_per_s"] if ceiling else None)),
                     _us(fig), _us(ceiling), format_foreign(fig.get("foreign_cpu_pct"))))
    lines += table(rows)
    lines += _format_base_point_baselines(sweep, hello)
    lines += _format_retry_after(sweep, mlserve)
    large = sweep["large_requests"]
    lines += ["", f"== large requests: {large['rows_per_request']} rows each =="]
    rows = [("connections", "req/s", "rows/s", "p99 ms", "503s", "timeouts", "other CPU")]
    for count in map(str, large["connections"]):
        fig = large["points"].get(count)
        if fig is None:
            rows.append((count, f"not measured: {large.get('error') or 'skipped'}"))
            continue
        rows.append((count, f"{fig['req_per_s']:,.1f}", f"{fig['rows_per_s']:,.0f}", f"{fig['p99_ms']:.1f}",
                     str(fig["non_2xx"]), str(fig["socket_errors_by_kind"].get("timeout", 0)),
                     format_foreign(fig.get("foreign_cpu_pct"))))
    lines += table(rows)
    return lines


def _format_base_point_baselines(sweep: dict, hello: dict) -> list[str]:
    """One line per base-point baseline (mlserve without its model, the bare batching app)
    against the hello-world app."""
    base = str(sweep["connections"][0])
    lines = []
    for name, what, meaning in BASE_POINT_BASELINES:
        record = sweep["servers"].get(name)
        if record is None:
            continue  # a results.json from before this baseline was measured
        fig, ceiling = record.get("points", {}).get(base), hello.get("points", {}).get(base)
        if fig is None:
            lines.append(f"  {what}, {base} connections: not measured: {record.get('error') or 'skipped'}")
            continue
        lines.append(f"  {what}, {base} connections: {fig['req_per_s']:,.0f} req/s, "
                     f"{format_ratio(ratio(fig['req_per_s'], ceiling['req_per_s'] if ceiling else None))} hello, "
                     f"{_us(fig)} us/req: {meaning}")
    return lines



def _format_retry_after(sweep: dict, mlserve: dict) -> list[str]:
    """mlserve's pass with post_retry_after.lua: the answered (200) requests' own latency and the
    refusals (503) apart, as the script timed them."""
    lines = ["", ("== concurrency sweep, clients that honour Retry-After (post_retry_after.lua): mlserve, "
                  f"wrk timeout {sweep['timeout_s']} s ==")]
    rows = [("connections", "answered req/s", "answered p50 ms", "answered p99 ms", "answered max ms", "503/s",
             "503 p99 ms", "client timeouts", "other CPU")]
    points = mlserve.get("retry_after_points")
    untimed = 0
    for count in map(str, sweep["connections"]):
        fig = (points or {}).get(count)
        if fig is None:
            why = "this results.json has no Retry-After pass" if points is None and mlserve else None
            rows.append((count, f"not measured: {why or mlserve.get('error') or 'skipped'}"))
            continue
        untimed += fig["untimed"] or 0
        rows.append((count, f"{fig['req_per_s']:,.0f}", _ms(fig["answered_p50_ms"], 2), _ms(fig["answered_p99_ms"], 2),
                     _ms(fig["answered_max_ms"]), f"{fig['refused_per_s']:,.0f}", _ms(fig["refused_p99_ms"], 2),
                     str(fig["socket_errors_by_kind"].get("timeout", 0)), format_foreign(fig.get("foreign_cpu_pct"))))
    lines += table(rows)
    if untimed:
        lines.append(f"  {untimed:,} responses carried no X-Request-Id: they are in no answered or 503 figure")
    return lines


def _ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _us(fig: dict | None) -> str:
    value = (fig or {}).get("server_cpu_us_per_request")
    return "-" if value is None else f"{value:.1f}"
