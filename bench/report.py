"""Turning measurements into figures, ratios, target verdicts and the printed report.

Pure functions over plain dicts (the shape of build/bench/results.json), so they are
tested without starting anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.cold_start import format_cold_start
from bench.sweep import format_sweep
from bench.tables import format_foreign, format_ratio, ratio, table

SUBJECT = "mlserve"
# Above this share of the server's or wrk's core used by other processes while measuring,
# the report warns that the figures are disturbed (a few percent is kernel loopback work).
NOISY_PCT = 10.0
BASELINES = ("fastapi", "flask")
DISPLAY_NAMES = {"mlserve": "mlserve", "fastapi": "FastAPI", "flask": "Flask"}


def ratios(scenario_servers: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """mlserve against each measured baseline in one scenario: throughput as mlserve/baseline,
    p99 as baseline/mlserve (both read "x times better" when above 1)."""
    subject = scenario_servers.get(SUBJECT)
    out = {}
    for name in BASELINES:
        baseline = scenario_servers.get(name)
        if subject is None or baseline is None:
            continue
        out[name] = {
            "req_per_s": ratio(subject["req_per_s"], baseline["req_per_s"]),
            "p99_lower": ratio(baseline["p99_ms"], subject["p99_ms"]),
        }
    return out


@dataclass(frozen=True, kw_only=True)
class Target:
    """One goal mlserve's figures are reported against (never asserted)."""

    name: str
    description: str
    read: Callable[[dict], float | None]
    """The figure compared, read from results.json's shape; None when it was not measured."""
    op: str
    """"<=", ">=", "<" or "=="."""
    threshold: float
    unit: str


def _subject(scenario: str, results: dict) -> dict | None:
    return results.get("scenarios", {}).get(scenario, {}).get("servers", {}).get(SUBJECT)


def _speedup_fastapi(results: dict) -> float | None:
    servers = results.get("scenarios", {}).get("single_row", {}).get("servers", {})
    subject, baseline = servers.get(SUBJECT), servers.get("fastapi")
    return ratio(subject["req_per_s"], baseline["req_per_s"]) if subject and baseline else None


def _figure(scenario: str, key: str) -> Callable[[dict], float | None]:
    def read(results: dict) -> float | None:
        subject = _subject(scenario, results)
        if subject is None:
            return None
        return subject["non_2xx"] + subject["socket_errors"] if key == "failures" else subject[key]

    return read


def _peak_rss(results: dict) -> float | None:
    memory = results["servers"].get(SUBJECT, {}).get("memory")
    return memory["peak_rss_mb"] if memory else None


SWEEP_BASE = "32"
"""The sweep's connection count the goodput and hello-world targets read as their base."""


def _sweep_points(results: dict, server: str = SUBJECT) -> dict[str, dict]:
    """The sweep pass with post.lua (clients that retry at once)."""
    return results.get("sweep", {}).get("servers", {}).get(server, {}).get("points", {})


def _retry_after_points(results: dict) -> dict[str, dict] | None:
    """mlserve's sweep pass with post_retry_after.lua; None when not measured (an older results.json)."""
    return results.get("sweep", {}).get("servers", {}).get(SUBJECT, {}).get("retry_after_points") or None


def goodput_kept(points: dict[str, dict], base: str, *, base_points: dict[str, dict] | None = None) -> float | None:
    """The lowest answered req/s at a count above `base`, over the answered req/s at `base` in
    `base_points` (default: the same points)."""
    base_points = points if base_points is None else base_points
    if base not in base_points or not base_points[base]["req_per_s"]:
        return None
    others = [fig["req_per_s"] for count, fig in points.items() if int(count) > int(base)]
    return min(others) / base_points[base]["req_per_s"] if others else None


def _hello_ratio(results: dict) -> float | None:
    subject, ceiling = _sweep_points(results).get(SWEEP_BASE), _sweep_points(results, "hello").get(SWEEP_BASE)
    return ratio(subject["req_per_s"], ceiling["req_per_s"]) if subject and ceiling else None


def _baseline_ratio(name: str) -> Callable[[dict], float | None]:
    """A base-point-only baseline's req/s over the hello-world app's, at the sweep's base."""

    def read(results: dict) -> float | None:
        subject, ceiling = _sweep_points(results, name).get(SWEEP_BASE), _sweep_points(results, "hello").get(SWEEP_BASE)
        return ratio(subject["req_per_s"], ceiling["req_per_s"]) if subject and ceiling else None

    return read


def _hello_cpu_ratio(results: dict) -> float | None:
    """CPU per request at the sweep point where mlserve answered most: saturated, so the cost
    per request rather than the loop idling between requests (it is higher when the load
    generator cannot keep the server busy)."""
    points = _sweep_points(results)
    if not points:
        return None
    busiest = max(points, key=lambda count: points[count]["req_per_s"])
    subject, ceiling = points[busiest], _sweep_points(results, "hello").get(busiest)
    if not ceiling:
        return None
    return ratio(ceiling.get("server_cpu_us_per_request"), subject.get("server_cpu_us_per_request"))


def _goodput_retry_after(results: dict) -> float | None:
    """Answered req/s of the Retry-After pass past the base over the plain pass's at the base:
    the base is the same load (nothing is refused at 32 connections) and is what the hello ratio reads."""
    points = _retry_after_points(results)
    return goodput_kept(points, SWEEP_BASE, base_points=_sweep_points(results)) if points else None


def _worst_answered_p99(results: dict) -> float | None:
    # A point that answered nothing has no answered p99; the goodput target fails it instead.
    values = [fig["answered_p99_ms"] for fig in (_retry_after_points(results) or {}).values()]
    values = [value for value in values if value is not None]
    return max(values) if values else None


def _worst_p99_instant_retry(results: dict) -> float | None:
    values = [fig["p99_ms"] for fig in _sweep_points(results).values()]
    return max(values) if values else None


def _timeouts(results: dict) -> float | None:
    """Client timeouts over both of mlserve's passes; None unless both were measured."""
    plain, retry_after = _sweep_points(results), _retry_after_points(results)
    if not plain or not retry_after:
        return None
    points = [*plain.values(), *retry_after.values()]
    return sum(fig["socket_errors_by_kind"].get("timeout", 0) for fig in points)


def _cold_start(model: str) -> Callable[[dict], float | None]:
    return lambda results: results.get("cold_start", {}).get(model, {}).get("median_s")


def _large_goodput(results: dict) -> float | None:
    large = results.get("sweep", {}).get("large_requests", {})
    counts = sorted(large.get("points", {}), key=int)
    return goodput_kept(large["points"], counts[0]) if counts else None


TARGETS = (
    Target(name="single_row_speedup", description="single-row req/s vs FastAPI baseline", read=_speedup_fastapi,
           op=">=", threshold=20, unit="x"),
    Target(name="single_row_p99", description="single-row p99 latency", read=_figure("single_row", "p99_ms"),
           op="<=", threshold=10, unit="ms"),
    Target(name="single_row_errors", description="single-row non-2xx + socket errors",
           read=_figure("single_row", "failures"), op="==", threshold=0, unit=""),
    Target(name="batch_64_rows_per_s", description="64-row requests, rows/s", read=_figure("batch_64", "rows_per_s"),
           op=">=", threshold=20_000, unit="rows/s"),
    Target(name="peak_rss", description="mlserve peak RSS (VmHWM) after the load", read=_peak_rss,
           op="<", threshold=200, unit="MB"),
    Target(name="hello_ratio", description="single-row req/s at 32 connections vs hello-world ASGI, same stack",
           read=_hello_ratio, op=">=", threshold=0.7, unit="x"),
    Target(name="hello_cpu_ratio", description="the same from CPU per request, at mlserve's busiest sweep point",
           read=_hello_cpu_ratio, op=">=", threshold=0.7, unit="x"),
    Target(name="hello_ratio_floor", read=_baseline_ratio("no_model"), op=">=", threshold=0.7, unit="x",
           description="the same for mlserve with its model replaced by a constant answer (the ratio's floor)"),
    Target(name="hello_ratio_bare", read=_baseline_ratio("bare"), op=">=", threshold=0.7, unit="x",
           description="the same for a bare batching app giving mlserve's answer (any batching server's ceiling)"),
    Target(name="sweep_goodput", read=_goodput_retry_after, op=">=", threshold=0.8, unit="x",
           description="Retry-After clients: lowest answered req/s past 32 connections vs retry-at-once clients' at 32"),
    Target(name="sweep_p99", read=_worst_answered_p99, op="<=", threshold=50, unit="ms",
           description="Retry-After clients: worst p99 of the answered requests (200s, timed by the script)"),
    Target(name="sweep_timeouts", description="mlserve's client timeouts over both sweep passes", read=_timeouts,
           op="==", threshold=0, unit=""),
    Target(name="sweep_goodput_instant_retry", op=">=", threshold=0.8, unit="x",
           read=lambda results: goodput_kept(_sweep_points(results), SWEEP_BASE),
           description="retry-at-once clients: lowest answered req/s past 32 connections vs at 32"),
    Target(name="sweep_p99_instant_retry", read=_worst_p99_instant_retry, op="<=", threshold=50, unit="ms",
           description="retry-at-once clients: worst p99 of every answer, 503s too (wrk); Little's law "
                       "sets their mean: connections / answers per s"),
    Target(name="cold_start_demo", description="demo forest: start to first answer (median)",
           read=_cold_start("demo"), op="<=", threshold=1.0, unit="s"),
    Target(name="cold_start_large_forest", description="500-tree forest: start to first answer (median)",
           read=_cold_start("large_forest"), op="<", threshold=2.0, unit="s"),
    Target(name="large_request_goodput", read=_large_goodput, op=">=", threshold=0.8, unit="x",
           description="max-size requests: answered rows/s at the most connections vs the fewest"),
)  # fmt: skip

_OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}


def evaluate_targets(results: dict) -> list[dict]:
    """Each target with its actual figure and `met`: True, False, or None (not measured)."""
    verdicts = []
    for target in TARGETS:
        actual = target.read(results)
        verdicts.append(
            {
                "name": target.name,
                "description": target.description,
                "target": f"{target.op} {target.threshold:,g}{_unit_suffix(target.unit)}",
                "actual": None if actual is None else round(actual, 2),
                "met": None if actual is None else _OPS[target.op](actual, target.threshold),
            }
        )
    return verdicts


def _unit_suffix(unit: str) -> str:
    return "" if not unit else unit if unit == "x" else f" {unit}"


def format_report(results: dict) -> str:
    """The human-readable report: one table per scenario, memory, then the targets."""
    settings = results["settings"]
    lines = []
    compared = bool(results["servers"])
    for scenario in results["scenarios"].values() if compared else ():
        load = (
            f"{settings['connections']} connections, {settings['duration_s']} s after {settings['warmup_s']} s warm-up"
        )
        lines += ["", f"== {scenario['title']}: {load} =="]
        header = (
            "server", "req/s", "rows/s", "p50 ms", "p99 ms", "p99.9 ms", "non-2xx", "sock err", "other CPU", "mlserve vs it"
        )  # fmt: skip
        rows = [header]
        for name, fig in scenario["servers"].items():
            versus = ""
            if name in scenario["ratios"]:
                r = scenario["ratios"][name]
                versus = f"{format_ratio(r['req_per_s'])} req/s, p99 {format_ratio(r['p99_lower'])} lower"
            rows.append(
                (
                    DISPLAY_NAMES.get(name, name),
                    f"{fig['req_per_s']:,.0f}",
                    f"{fig['rows_per_s']:,.0f}",
                    f"{fig['p50_ms']:.2f}",
                    f"{fig['p99_ms']:.2f}",
                    f"{fig['p999_ms']:.2f}",
                    str(fig["non_2xx"]),
                    str(fig["socket_errors"]),
                    format_foreign(fig.get("foreign_cpu_pct")),
                    versus,
                )
            )
        for name, server in results["servers"].items():
            if name not in scenario["servers"]:
                rows.append((DISPLAY_NAMES.get(name, name), f"not measured: {server.get('error') or 'skipped'}"))
        lines += table(rows)
        summary = [f"{format_ratio(r['req_per_s'])} {DISPLAY_NAMES[name]}" for name, r in scenario["ratios"].items()]
        if summary:
            lines.append(f"mlserve throughput: {', '.join(summary)}")

    if compared:
        lines += ["", "== memory after the load (process group, MB = 10^6 bytes) =="]
        rows = [("server", "RSS MB", "peak RSS MB")]
        for name, server in results["servers"].items():
            memory = server.get("memory")
            if memory:
                rows.append((DISPLAY_NAMES.get(name, name), f"{memory['rss_mb']:.1f}",
                             f"{memory['peak_rss_mb']:.1f}"))
        lines += table(rows)
    if "sweep" in results:
        lines += format_sweep(results["sweep"])
    if "cold_start" in results:
        lines += format_cold_start(results["cold_start"])

    noisy = noisy_measurements(results)
    if noisy:
        lines += ["", f"WARNING: other processes used over {NOISY_PCT:g}% of a pinned core while measuring:"]
        lines += [f"  {item}" for item in noisy]
        lines.append("  those figures are disturbed; rerun on a quiet machine before quoting them.")

    lines += ["", "== targets (reported, not enforced) =="]
    for verdict in results["targets"]:
        mark = {True: "met", False: "NOT MET", None: "not measured"}[verdict["met"]]
        actual = "-" if verdict["actual"] is None else f"{verdict['actual']:,}"
        lines.append(f"  [{mark:>12}] {verdict['description']}: {actual} (target {verdict['target']})")
    return "\n".join(lines)


def _measurements(results: dict):
    """(what, figures) of every wrk run in the results."""
    for scenario in results["scenarios"].values():
        for name, fig in scenario["servers"].items():
            yield f"{DISPLAY_NAMES.get(name, name)}, {scenario['title']}", fig
    sweep = results.get("sweep", {})
    for name, record in sweep.get("servers", {}).items():
        for count, fig in record["points"].items():
            yield f"{name}, sweep at {count} connections", fig
        for count, fig in (record.get("retry_after_points") or {}).items():
            yield f"{name}, sweep at {count} connections, clients that honour Retry-After", fig
    for count, fig in sweep.get("large_requests", {}).get("points", {}).items():
        yield f"mlserve, large requests at {count} connections", fig


def noisy_measurements(results: dict) -> list[str]:
    """One line per measurement during which another process used over NOISY_PCT of the
    server's or wrk's core."""
    out = []
    for what, fig in _measurements(results):
        foreign = fig.get("foreign_cpu_pct") or {}
        if max(foreign.values(), default=0) > NOISY_PCT:
            out.append(f"{what}: server core {foreign['server_core']:g}%, wrk core {foreign['wrk_core']:g}%")
    return out
