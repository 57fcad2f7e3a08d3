"""Turning measurements into figures, ratios, target verdicts and the printed report.

Pure functions over plain dicts (the shape of build/bench/results.json), so they are
tested without starting anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.load import WrkResult

SUBJECT = "mlserve"
# Above this share of the server's or wrk's core used by other processes while measuring,
# the report warns that the figures are disturbed (a few percent is kernel loopback work).
NOISY_PCT = 10.0
BASELINES = ("fastapi", "flask")
DISPLAY_NAMES = {"mlserve": "mlserve", "fastapi": "FastAPI", "flask": "Flask"}


def figures(result: WrkResult, rows_per_request: int) -> dict:
    """The reported figures of one wrk run. req/s and rows/s count successful responses only."""
    latency = result.latency_ms
    return {
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


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


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
    scenario: str | None
    """Scenario whose figures it reads; None for memory."""
    value: str
    """The figure compared: a key of figures(), "speedup_fastapi", "failures" or "peak_rss_mb"."""
    op: str
    """"<=", ">=", "<" or "=="."""
    threshold: float
    unit: str


TARGETS = (
    Target(name="single_row_speedup", description="single-row req/s vs FastAPI baseline", scenario="single_row",
           value="speedup_fastapi", op=">=", threshold=20, unit="x"),
    Target(name="single_row_p99", description="single-row p99 latency", scenario="single_row",
           value="p99_ms", op="<=", threshold=10, unit="ms"),
    Target(name="single_row_errors", description="single-row non-2xx + socket errors", scenario="single_row",
           value="failures", op="==", threshold=0, unit=""),
    Target(name="batch_64_rows_per_s", description="64-row requests, rows/s", scenario="batch_64",
           value="rows_per_s", op=">=", threshold=20_000, unit="rows/s"),
    Target(name="peak_rss", description="mlserve peak RSS (VmHWM) after the load", scenario=None,
           value="peak_rss_mb", op="<", threshold=200, unit="MB"),
)  # fmt: skip

_OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}


def target_actual(target: Target, results: dict) -> float | None:
    """The figure `target` compares, or None when it was not measured."""
    if target.scenario is None:
        memory = results["servers"].get(SUBJECT, {}).get("memory")
        return memory[target.value] if memory else None
    servers = results["scenarios"].get(target.scenario, {}).get("servers", {})
    subject = servers.get(SUBJECT)
    if subject is None:
        return None
    if target.value == "speedup_fastapi":
        baseline = servers.get("fastapi")
        return ratio(subject["req_per_s"], baseline["req_per_s"]) if baseline else None
    if target.value == "failures":
        return subject["non_2xx"] + subject["socket_errors"]
    return subject[target.value]


def evaluate_targets(results: dict) -> list[dict]:
    """Each target with its actual figure and `met`: True, False, or None (not measured)."""
    verdicts = []
    for target in TARGETS:
        actual = target_actual(target, results)
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


def format_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def format_report(results: dict) -> str:
    """The human-readable report: one table per scenario, memory, then the targets."""
    settings = results["settings"]
    lines = []
    for scenario in results["scenarios"].values():
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
                    _format_foreign(fig.get("foreign_cpu_pct")),
                    versus,
                )
            )
        for name, server in results["servers"].items():
            if name not in scenario["servers"]:
                rows.append((DISPLAY_NAMES.get(name, name), f"not measured: {server.get('error') or 'skipped'}"))
        lines += _table(rows)
        summary = [f"{format_ratio(r['req_per_s'])} {DISPLAY_NAMES[name]}" for name, r in scenario["ratios"].items()]
        if summary:
            lines.append(f"mlserve throughput: {', '.join(summary)}")

    lines += ["", "== memory after the load (process group, MB = 10^6 bytes) =="]
    rows = [("server", "RSS MB", "peak RSS MB")]
    for name, server in results["servers"].items():
        memory = server.get("memory")
        if memory:
            rows.append((DISPLAY_NAMES.get(name, name), f"{memory['rss_mb']:.1f}", f"{memory['peak_rss_mb']:.1f}"))
    lines += _table(rows)

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


def noisy_measurements(results: dict) -> list[str]:
    """One line per measurement during which another process used over NOISY_PCT of the
    server's or wrk's core."""
    out = []
    for scenario in results["scenarios"].values():
        for name, fig in scenario["servers"].items():
            foreign = fig.get("foreign_cpu_pct") or {}
            if max(foreign.values(), default=0) > NOISY_PCT:
                out.append(
                    f"{DISPLAY_NAMES.get(name, name)}, {scenario['title']}: server core {foreign['server_core']:g}%, "
                    f"wrk core {foreign['wrk_core']:g}%"
                )
    return out


def _format_foreign(foreign: dict | None) -> str:
    """The server core's share used by others, e.g. "2%"; "-" when nothing was pinned."""
    return "-" if not foreign else f"{foreign['server_core']:.0f}%"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    # Rows shorter than the header (a server not measured) are printed as they are.
    full = [row for row in rows if len(row) == len(rows[0])]
    widths = [max(len(row[i]) for row in full) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        if len(row) != len(rows[0]):
            out.append("  " + "  ".join(row))
            continue
        cells = [
            cell.ljust(widths[i]) if i == 0 or i == len(row) - 1 else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out
