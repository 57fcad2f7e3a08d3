"""`python -m bench` (what `make bench` runs): mlserve against two baseline servers under
wrk, figures printed as tables and written to build/bench/results.json. See bench/README.md.

Exits 0 whenever the harness did its job, whatever the figures (targets are reported,
never enforced); 1 when a server did not start or answer, 2 when wrk or the settings are wrong.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib

from bench import cpu, report
from bench.load import SCENARIOS, LoadError, run_wrk, write_bodies, wrk_command
from bench.servers import ServerError, group_memory, predict, running_server, server_specs

REPO_ROOT = Path(__file__).resolve().parent.parent
KNOWN_SERVERS = ("mlserve", "fastapi", "flask")


class SettingsError(Exception):
    """A BENCH_* environment variable has a value the bench cannot use."""


@dataclass(frozen=True, kw_only=True)
class BenchSettings:
    """What one bench run does. Each field is read from the environment variable in its docstring."""

    duration_s: int = 10
    """BENCH_DURATION: seconds measured per server and scenario (default 10)."""
    warmup_s: int = 2
    """BENCH_WARMUP: seconds of the same load before each measurement, not counted (default 2; 0 skips it)."""
    connections: int = 32
    """BENCH_CONNECTIONS: concurrent keep-alive connections wrk holds open (default 32)."""
    servers: tuple[str, ...] = KNOWN_SERVERS
    """BENCH_SERVERS: comma-separated subset of mlserve,fastapi,flask (default all three)."""
    model_dir: Path | None = None
    """BENCH_MODEL_DIR: an existing model directory (model.joblib + metadata.json); default:
    a fresh demo model written by `python -m serving_app.demo_model` under out_dir."""
    out_dir: Path = REPO_ROOT / "build" / "bench"
    """BENCH_OUT: where results.json, server logs and request bodies go (default build/bench)."""

    def __post_init__(self) -> None:
        if self.duration_s < 1:
            raise SettingsError(f"BENCH_DURATION must be >= 1 second, got {self.duration_s}")
        if self.warmup_s < 0:
            raise SettingsError(f"BENCH_WARMUP must be >= 0 seconds, got {self.warmup_s}")
        if self.connections < 1:
            raise SettingsError(f"BENCH_CONNECTIONS must be >= 1, got {self.connections}")
        unknown = [name for name in self.servers if name not in KNOWN_SERVERS]
        if unknown or not self.servers:
            raise SettingsError(f"BENCH_SERVERS must name some of {','.join(KNOWN_SERVERS)}, got {self.servers}")


def settings_from_env(env: dict[str, str]) -> BenchSettings:
    """Read BENCH_* variables; unset ones keep BenchSettings' defaults."""
    values: dict = {}
    for var, field in (
        ("BENCH_DURATION", "duration_s"),
        ("BENCH_WARMUP", "warmup_s"),
        ("BENCH_CONNECTIONS", "connections"),
    ):
        if var in env:
            try:
                values[field] = int(env[var])
            except ValueError:
                raise SettingsError(f"{var} must be a whole number, got {env[var]!r}") from None
    if "BENCH_SERVERS" in env:
        values["servers"] = tuple(name.strip() for name in env["BENCH_SERVERS"].split(",") if name.strip())
    if env.get("BENCH_MODEL_DIR"):
        values["model_dir"] = Path(env["BENCH_MODEL_DIR"]).resolve()
    if env.get("BENCH_OUT"):
        values["out_dir"] = Path(env["BENCH_OUT"]).resolve()
    return BenchSettings(**values)


def choose_cpus() -> tuple[int | None, int | None]:
    """(server cpu, wrk cpu): the first two CPUs this process may run on, so the server
    and the load generator never share a core; (None, None) with fewer than two."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 or shutil.which("taskset") is None:
        return None, None
    return allowed[0], allowed[1]


def build_demo_model(out: Path) -> Path:
    """Write the demo model with the project's own writer, as a reader would."""
    command = [sys.executable, "-m", "serving_app.demo_model", "--out", str(out)]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        raise ServerError(f"{' '.join(command[1:])} failed: {completed.stderr.strip()[-1500:]}")
    return out


def same_prediction(a, b) -> bool:
    """Labels compared as numbers when both are numbers (1 == 1.0), otherwise as they are."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def environment(server_cpu: int | None, wrk_cpu: int | None) -> dict:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu_model": cpu_model,
        "cpus_available": len(os.sched_getaffinity(0)),
        "server_cpu": server_cpu,
        "wrk_cpu": wrk_cpu,
        "python": platform.python_version(),
        "wrk": wrk_version[0] if wrk_version else "",
        "commit": commit,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run(settings: BenchSettings) -> tuple[dict, bool]:
    """Measure every server in `settings`; return the results and whether the harness
    worked (every server started and answered, wrk ran)."""
    server_cpu, wrk_cpu = choose_cpus()
    out = settings.out_dir
    model_dir = settings.model_dir or build_demo_model(out / "model")
    n_features = joblib.load(model_dir / "model.joblib").n_features_in_
    bodies = {
        scenario.name: write_bodies(
            out / "bodies" / f"{scenario.name}.jsonl",
            rows_per_request=scenario.rows_per_request,
            count=scenario.distinct_bodies,
            n_features=n_features,
            seed=index,
        )
        for index, scenario in enumerate(SCENARIOS)
    }
    settings_record = {key: str(value) if isinstance(value, Path) else value for key, value in asdict(settings).items()}
    results: dict = {
        "settings": {**settings_record, "model_dir": str(model_dir)},
        "environment": environment(server_cpu, wrk_cpu),
        "servers": {},
        "scenarios": {
            s.name: {"title": s.title, "rows_per_request": s.rows_per_request, "servers": {}, "ratios": {}}
            for s in SCENARIOS
        },
    }
    # Rows every server is asked outside the load, to check the answers agree.
    check_bodies = [bodies["single_row"][0], *bodies["batch_64"][:4]]
    answers: dict[str, list] = {}
    specs = server_specs(sys.executable, model_dir)
    harness_ok = True
    for name in settings.servers:
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
                        connections=settings.connections,
                        cpu=wrk_cpu,
                    )
                    if settings.warmup_s:
                        run_wrk(command(duration_s=settings.warmup_s), duration_s=settings.warmup_s)
                    take = functools.partial(
                        cpu.snapshot, server_cpu=server_cpu, wrk_cpu=wrk_cpu, server_pgid=server.process.pid
                    )
                    before = take(now_s=time.monotonic()) if server_cpu is not None else None
                    measured = run_wrk(command(duration_s=settings.duration_s), duration_s=settings.duration_s)
                    fig = report.figures(measured, scenario.rows_per_request)
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
    results["targets"] = report.evaluate_targets(results)
    return results, harness_ok


def _stop_on_sigterm(signum, frame):
    # Turn SIGTERM into an exception so the `finally` blocks stop every server we started.
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        settings = settings_from_env(dict(os.environ))
    except SettingsError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print("bench: wrk not found; install it: apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        results, harness_ok = run(settings)
    except ServerError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; every server started was stopped", file=sys.stderr)
        return 130
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    results_path = settings.out_dir / "results.json"
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(report.format_report(results))
    for name, server in results["servers"].items():
        if "agrees_with_mlserve" in server:
            print(f"  {report.DISPLAY_NAMES[name]} predictions agree with mlserve on {server['agrees_with_mlserve']}")
    print(
        f"\nwritten: {results_path.relative_to(REPO_ROOT) if results_path.is_relative_to(REPO_ROOT) else results_path}"
    )
    return 0 if harness_ok else 1


if __name__ == "__main__":
    sys.exit(main())
