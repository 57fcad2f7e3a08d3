"""status: what is deployed and how healthy it is, in a few lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.aws import Clients, call


def alarm_states(clients: Clients, *, names: Sequence[str] = (), prefix: str | None = None) -> dict[str, str]:
    """{alarm name: state} of the named alarms, or of every alarm named from `prefix` (paginated)."""
    if not names and prefix is None:
        raise CheckError(ExitCode.USAGE, "need the stack's alarm names (--stack-outputs) or --alarm-prefix")
    states: dict[str, str] = {}
    pages: list[dict[str, Any]] = []
    if names:
        for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            pages += _pages(clients, AlarmNames=list(names[start:start + 100]))
    else:
        pages += _pages(clients, AlarmNamePrefix=prefix)
    for page in pages:
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            states[alarm["AlarmName"]] = alarm["StateValue"]
    missing = sorted(set(names) - set(states))
    if missing or not states:
        raise CheckError(ExitCode.NOT_FOUND, f"alarms not found: {missing or prefix + '*'} (is the stack deployed "
                                             "in this account and region?)")
    return states


def _pages(clients: Clients, **kwargs) -> list[dict[str, Any]]:
    pages, token = [], None
    while True:
        page = call("cloudwatch describe-alarms", clients.cloudwatch.describe_alarms,
                    **kwargs, **({"NextToken": token} if token else {}))
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages


def endpoint_lines(clients: Clients, endpoint: str) -> list[str]:
    """Status, and per variant its weight and instance counts (current -> desired)."""
    described = call(f"endpoint {endpoint}", clients.sagemaker.describe_endpoint, EndpointName=endpoint)
    lines = [f"endpoint {endpoint}: {described['EndpointStatus']} (config {described.get('EndpointConfigName')})"]
    for variant in described.get("ProductionVariants", []):
        count = variant.get("CurrentInstanceCount")
        serverless = variant.get("CurrentServerlessConfig")
        capacity = (f"serverless {serverless.get('MemorySizeInMB')} MB, concurrency {serverless.get('MaxConcurrency')}"
                    if serverless else f"instances {count} -> {variant.get('DesiredInstanceCount', count)}")
        lines.append(f"  variant {variant['VariantName']}: weight {variant.get('CurrentWeight')} -> "
                     f"{variant.get('DesiredWeight')}, {capacity}")
    return lines


def status_lines(clients: Clients, *, endpoint: str | None, names: Sequence[str], prefix: str | None) -> list[str]:
    lines = endpoint_lines(clients, endpoint) if endpoint else []
    states = alarm_states(clients, names=names, prefix=prefix)
    firing = sorted(name for name, state in states.items() if state == "ALARM")
    counts = {state: sum(1 for s in states.values() if s == state) for state in ("OK", "ALARM", "INSUFFICIENT_DATA")}
    lines.append(f"alarms: {counts['OK']} OK, {counts['ALARM']} ALARM, {counts['INSUFFICIENT_DATA']} INSUFFICIENT_DATA")
    lines += [f"  ALARM {name}" for name in firing]
    return lines
