"""The comparison: mlserve against the two seed-project baselines, single-row and 64-row
requests at BENCH_CONNECTIONS, plus each server's memory and whether their answers agree."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

from bench import cpu, report
from bench.load import SCENARIOS, LoadError, figures, run_wrk, wrk_command
from bench.servers import ServerError, ServerSpec, group_memory, predict, running_server


def same_prediction(a, b) -> bool:
    """Labels compared as numbers when both are numbers (1 == 1.0), otherwise as they are."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def run_comparison(results: dict, *, servers: tuple[str, ...], specs: dict[str, ServerSpec], bodies: dict[str, list],
                   model_dir: Path, out: Path, connections: int, duration_s: int, warmup_s: int,
                   server_cpu: int | None, wrk_cpu: int | None) -> bool:
    """Fill results["servers"] and results["scenarios"]; whether every server started and answered."""
    # Rows every server is asked outside the load, to check the answers agree.
    check_bodies = [bodies["single_row"][0], *bodies["batch_64"][:4]]
    answers: dict[str, list] = {}
    harness_ok = True
    for name in servers:
        spec = specs[name]
        record = results["servers"][name] = {"label": spec.label, "error": None, "memory": None}
        print(f"-- {spec.label}", flush=True)
        try:
            with running_server(
                spec, model_dir=model_dir, log_path=out / "logs" / f"{name}.log", cpu=server_cpu
            ) as server:
                answers[name] = [p for body in check_bodies for p in predict(server, body)]
                for scenario in SCENARIOS:
                    command = functools.partial(
                        wrk_command,
                        url=server.base_url + "/predict",
                        bodies=out / "bodies" / f"{scenario.name}.jsonl",
                        connections=connections,
                        cpu=wrk_cpu,
                    )
                    if warmup_s:
                        run_wrk(command(duration_s=warmup_s), duration_s=warmup_s)
                    take = functools.partial(
                        cpu.snapshot, server_cpu=server_cpu, wrk_cpu=wrk_cpu, server_pgid=server.process.pid
                    )
                    before = take(now_s=time.monotonic()) if server_cpu is not None else None
                    measured = run_wrk(command(duration_s=duration_s), duration_s=duration_s)
                    fig = figures(measured, scenario.rows_per_request)
                    if before is not None:
                        fig["foreign_cpu_pct"] = cpu.foreign_pct(before, take(now_s=time.monotonic()))
                    results["scenarios"][scenario.name]["servers"][name] = fig
                    print(
                        f"   {scenario.title}: {fig['req_per_s']:,.0f} req/s, {fig['rows_per_s']:,.0f} rows/s, "
                        f"p50 {fig['p50_ms']:.2f} ms, p99 {fig['p99_ms']:.2f} ms, "
                        f"{fig['non_2xx']} non-2xx, {fig['socket_errors']} socket errors"
                        + (
                            f", other work on the server's core {fig['foreign_cpu_pct']['server_core']}%"
                            if before
                            else ""
                        ),
                        flush=True,
                    )
                memory = group_memory(server.process.pid)
                record["memory"] = {
                    "rss_mb": round(memory.rss_mb, 1),
                    "peak_rss_mb": round(memory.peak_rss_mb, 1),
                    "processes": memory.processes,
                }
        except (ServerError, LoadError) as error:
            harness_ok = False
            record["error"] = error.summary if isinstance(error, ServerError) else str(error)
            print(f"   FAILED: {error}", file=sys.stderr, flush=True)

    for scenario in results["scenarios"].values():
        scenario["ratios"] = report.ratios(scenario["servers"])
    if report.SUBJECT in answers:
        for name, predictions in answers.items():
            if name != report.SUBJECT:
                agree = sum(map(same_prediction, predictions, answers[report.SUBJECT]))
                results["servers"][name]["agrees_with_mlserve"] = f"{agree}/{len(predictions)} rows"
    return harness_ok
