"""`python -m bench` (what `make bench` runs): mlserve against two baseline servers under
wrk, figures printed as tables and written to build/bench/results.json. See bench/README.md.

Exits 0 whenever the harness did its job, whatever the figures (targets are reported,
never enforced); 1 when a server did not start or answer, 2 when wrk or the settings are wrong.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib

from bench import report
from bench.cold_start import build_large_forest, run_cold_starts
from bench.compare import run_comparison
from bench.load import SCENARIOS, write_bodies
from bench.servers import ServerError, server_specs
from bench.sweep import Load, run_sweep

REPO_ROOT = Path(__file__).resolve().parent.parent
KNOWN_SERVERS = ("mlserve", "fastapi", "flask")
KNOWN_PARTS = ("compare", "sweep", "cold_start")
LARGE_ROWS = 1024
"""Rows per large request: the server's default max_rows_per_request."""
LARGE_CONNECTIONS = (4, 32)


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
    parts: tuple[str, ...] = KNOWN_PARTS
    """BENCH_PARTS: comma-separated subset of compare (vs the baselines), sweep (connections, the
    hello-world ceiling, large requests) and cold_start (default all three)."""
    sweep: tuple[int, ...] = (32, 256, 1000, 2000)
    """BENCH_SWEEP: connection counts of the sweep (default 32,256,1000,2000; the first is the base)."""
    timeout_s: int = 2
    """BENCH_TIMEOUT: wrk's --timeout in the sweep, seconds; a later answer is a client timeout (default 2)."""
    cold_starts: int = 3
    """BENCH_COLD_STARTS: cold starts per model, the median is reported (default 3)."""

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
        if not self.parts or any(part not in KNOWN_PARTS for part in self.parts):
            raise SettingsError(f"BENCH_PARTS must name some of {','.join(KNOWN_PARTS)}, got {self.parts}")
        if not self.sweep or min(self.sweep) < 1 or list(self.sweep) != sorted(set(self.sweep)):
            raise SettingsError(f"BENCH_SWEEP must be increasing connection counts >= 1, got {self.sweep}")
        if self.timeout_s < 1 or self.cold_starts < 1:
            raise SettingsError(f"BENCH_TIMEOUT and BENCH_COLD_STARTS must be >= 1, got {self.timeout_s}, "
                                f"{self.cold_starts}")


def settings_from_env(env: dict[str, str]) -> BenchSettings:
    """Read BENCH_* variables; unset ones keep BenchSettings' defaults."""
    values: dict = {}
    for var, field in (
        ("BENCH_DURATION", "duration_s"),
        ("BENCH_WARMUP", "warmup_s"),
        ("BENCH_CONNECTIONS", "connections"),
        ("BENCH_TIMEOUT", "timeout_s"),
        ("BENCH_COLD_STARTS", "cold_starts"),
    ):
        if var in env:
            try:
                values[field] = int(env[var])
            except ValueError:
                raise SettingsError(f"{var} must be a whole number, got {env[var]!r}") from None
    if "BENCH_SERVERS" in env:
        values["servers"] = tuple(name.strip() for name in env["BENCH_SERVERS"].split(",") if name.strip())
    if "BENCH_PARTS" in env:
        values["parts"] = tuple(name.strip() for name in env["BENCH_PARTS"].split(",") if name.strip())
    if "BENCH_SWEEP" in env:
        try:
            values["sweep"] = tuple(int(count) for count in env["BENCH_SWEEP"].split(",") if count.strip())
        except ValueError:
            raise SettingsError(f"BENCH_SWEEP must be comma-separated whole numbers, "
                                f"got {env['BENCH_SWEEP']!r}") from None
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


def raise_open_file_limit(connections: int) -> None:
    """wrk and the server each hold one descriptor per connection: lift the soft limit (which
    both inherit) to what the largest sweep point needs, as far as the hard limit allows."""
    needed = connections + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SettingsError(f"BENCH_SWEEP goes to {connections} connections, which needs {needed} open files; "
                                f"the hard limit is {hard} (raise it, e.g. `ulimit -Hn {needed}` as root)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def run(settings: BenchSettings) -> tuple[dict, bool]:
    """Measure every part in `settings`; return the results and whether the harness
    worked (every server started and answered, wrk ran)."""
    if "sweep" in settings.parts:
        raise_open_file_limit(max(settings.sweep))
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
    parts = settings.parts
    specs = server_specs(sys.executable, model_dir)
    harness_ok = True
    if "compare" in parts:
        harness_ok &= run_comparison(results, servers=settings.servers, specs=specs, bodies=bodies,
                                     model_dir=model_dir, out=out, connections=settings.connections,
                                     duration_s=settings.duration_s, warmup_s=settings.warmup_s,
                                     server_cpu=server_cpu, wrk_cpu=wrk_cpu)
    if "sweep" in parts:
        write_bodies(out / "bodies" / "large.jsonl", rows_per_request=LARGE_ROWS, count=8, n_features=n_features,
                     seed=len(SCENARIOS))
        load = Load(duration_s=settings.duration_s, warmup_s=settings.warmup_s, timeout_s=settings.timeout_s,
                    server_cpu=server_cpu, wrk_cpu=wrk_cpu)
        results["sweep"], ok = run_sweep(specs, model_dir=model_dir, out=out,
                                         single_row_bodies=out / "bodies" / "single_row.jsonl",
                                         large_bodies=out / "bodies" / "large.jsonl", large_rows=LARGE_ROWS,
                                         connections=settings.sweep, large_connections=LARGE_CONNECTIONS, load=load)
        harness_ok &= ok
    if "cold_start" in parts:
        print("-- cold start", flush=True)
        models = {"demo": model_dir, "large_forest": build_large_forest(out / "large-forest", REPO_ROOT)}
        results["cold_start"], ok = run_cold_starts(models, repeats=settings.cold_starts, cpu=server_cpu,
                                                    repo_root=REPO_ROOT, out=out)
        harness_ok &= ok
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
