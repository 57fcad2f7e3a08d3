"""Observability: CloudWatch log ingestion and storage, alarms, dashboards, the custom metrics the
CloudWatch agent publishes from Prometheus, and CloudTrail data events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Iterable

from policies import prices
from policies.cost.compute import node_range
from policies.cost.model import Line, Pricing, Resource
from policies.props import as_list, get

DAYS_PER_MONTH = prices.HOURS_PER_MONTH / 24
OBSERVABILITY_ADDON = "amazon-cloudwatch-observability"
ANOMALY_OPERATORS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold")
"""Anomaly-detection alarms bill three alarm metrics each (the metric and its band's two bounds)."""

# Log group roles: (line label, LogIngestion field, scales with nodes). Names follow AWS's own conventions:
# EKS control plane /aws/eks/<cluster>/cluster, Container Insights /aws/containerinsights/<cluster>/<group>,
# SageMaker /aws/sagemaker/Endpoints/<endpoint>; flow-log groups are found from the FlowLog resources.
_INSIGHTS = {"application": "application_per_node", "dataplane": "dataplane_per_node", "host": "host_per_node",
             "performance": "performance_per_node", "prometheus": "prometheus"}


def _role(name: str, flow_destinations: list[str]) -> tuple[str, str]:
    """(family shown in the estimate, LogIngestion field) of a log group by its name."""
    parts = name.strip("/").split("/")
    if name and any(d == name or d.endswith(f":{name}") or d.endswith(f":{name}:*") for d in flow_destinations):
        return "VPC flow logs", "flow_logs"
    if len(parts) == 4 and parts[:2] == ["aws", "eks"] and parts[3] == "cluster":
        return "EKS control plane", "control_plane"
    if len(parts) == 4 and parts[:2] == ["aws", "containerinsights"] and parts[3] in _INSIGHTS:
        return "Container Insights", _INSIGHTS[parts[3]]
    if name.startswith("/aws/sagemaker/Endpoints/"):
        return "SageMaker endpoints", "sage_maker"
    return "other log groups", "other"


def log_groups(ctx: Pricing) -> Iterable[Line]:
    """Each log group: the assumed GB a month ingested, and the steady-state storage its retention keeps
    (ingested size, an upper bound: CloudWatch bills the compressed size). Per-node roles scale from the
    node pools' minimum to their maximum size."""
    groups = ctx.of_type("aws:cloudwatch/logGroup:LogGroup")
    if not groups:
        return
    ingest, store = ctx.service("logs_ingest_gb", "CloudWatch Logs ingestion"), ctx.service("logs_storage_gb_month", "CloudWatch Logs storage")
    if ingest is None or store is None:
        return
    destinations = [str(r.props.get("logDestination") or r.props.get("logGroupName") or "")
                    for r in ctx.of_type("aws:ec2/flowLog:FlowLog")]
    nodes_min, nodes_max = node_range(ctx)
    families: dict[str, list[float]] = {}  # family -> [gb min, gb max, cost min, cost max, groups]
    retention: dict[str, set[str]] = {}
    for group in groups:
        family, role = _role(str(group.props.get("name") or ""), destinations)
        gb = float(getattr(ctx.usage.log_ingestion_gb, role))
        low, high = (gb * nodes_min, gb * nodes_max) if role.endswith("_per_node") else (gb, gb)
        days = float(group.props.get("retentionInDays") or 0)
        months = days / DAYS_PER_MONTH if days else ctx.usage.never_expiring_log_months
        per_gb = ingest + months * store
        totals = families.setdefault(family, [0.0, 0.0, 0.0, 0.0, 0.0])
        for index, value in enumerate((low, high, low * per_gb, high * per_gb, 1)):
            totals[index] += value
        retention.setdefault(family, set()).add(f"{days:g}-day" if days else "no")
    for family, (gb_min, gb_max, cost_min, cost_max, count) in families.items():
        gb = f"{gb_min:g}" if gb_min == gb_max else f"{gb_min:g}-{gb_max:g}"
        kept = "/".join(sorted(retention[family]))
        yield Line("logs", family, f"{count:g} group(s), {gb} GB a month ingested, {kept} retention", cost_min, cost_max)


def _alarm_metrics(alarm: Resource) -> tuple[float, bool]:
    """(alarm metrics billed, high resolution) of one metric alarm."""
    queries = [q for q in as_list(alarm.props.get("metricQueries")) if isinstance(q, Mapping)]
    metrics = sum(1 for q in queries if q.get("metric")) if queries else 1
    if alarm.props.get("comparisonOperator") in ANOMALY_OPERATORS:
        metrics *= 3
    periods = [float(alarm.props.get("period") or 60)] + [float(get(q, "metric.period") or 60) for q in queries if q.get("metric")]
    return float(metrics), min(periods) < 60


def alarms_and_dashboards(ctx: Pricing) -> Iterable[Line]:
    """Metric alarms per alarm metric (a metric-math alarm bills each metric it reads), composite alarms,
    and dashboards."""
    standard = high = 0.0
    metric_alarms = ctx.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    for alarm in metric_alarms:
        metrics, high_resolution = _alarm_metrics(alarm)
        if high_resolution:
            high += metrics
        else:
            standard += metrics
    composites = ctx.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")
    cost, parts = 0.0, []
    if standard:
        price = ctx.service("alarm_metric_month", "CloudWatch alarms")
        cost += standard * (price or 0)
        parts.append(f"{standard:g} standard")
    if high:
        price = ctx.service("alarm_high_resolution_metric_month", "high-resolution CloudWatch alarms")
        cost += high * (price or 0)
        parts.append(f"{high:g} high-resolution")
    if composites:
        price = ctx.service("composite_alarm_month", "composite alarms")
        cost += len(composites) * (price or 0)
        parts.append(f"{len(composites)} composite")
    if metric_alarms or composites:
        yield Line("monitoring", "alarms", f"{len(metric_alarms) + len(composites)} alarms: " + ", ".join(parts)
                   + " alarm metric(s)", cost, cost)
    dashboards = ctx.of_type("aws:cloudwatch/dashboard:Dashboard")
    price = ctx.service("dashboard_month", "CloudWatch dashboards") if dashboards else None
    if price is not None:
        yield Line("monitoring", "dashboards", f"{len(dashboards)} dashboard(s)", len(dashboards) * price, len(dashboards) * price)


def _addon_config(addon: Resource) -> Mapping[str, Any]:
    value = addon.props.get("configurationValues")
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def container_insights(ctx: Pricing) -> Iterable[Line]:
    """The CloudWatch observability add-on: the custom metrics its agent publishes from Prometheus (EMF
    metric declarations: each selected metric per dimension set, one series per Deployment in the scraped
    namespaces; other label values are not multiplied), and Container Insights itself, listed as excluded."""
    for addon in ctx.of_type("aws:eks/addon:Addon"):
        if addon.props.get("addonName") != OBSERVABILITY_ADDON:
            continue
        config = _addon_config(addon)
        collected = get(config, "agent.config.logs.metrics_collected") or {}
        if get(collected, "kubernetes.enhanced_container_insights") is True:
            ctx.excluded.append(f"Container Insights with enhanced observability on {addon.name} (billed per "
                                "observation; no unit price sourced, see policies/prices.py)")
        elif get(collected, "kubernetes") is not None:
            ctx.excluded.append(f"Container Insights metrics on {addon.name} (custom metrics per cluster, node and pod; not counted)")
        declarations = as_list(get(collected, "prometheus.emf_processor.metric_declaration"))
        declared = sum(len(as_list(get(d, "metric_selectors"))) * max(1, len(as_list(get(d, "dimensions")))) for d in declarations)
        if not declared:
            continue
        namespaces = {str(n) for job in as_list(get(config, "agent.prometheus.config.scrape_configs"))
                      for sd in as_list(get(job, "kubernetes_sd_configs")) for n in as_list(get(sd, "namespaces.names"))}
        workloads = sum(1 for d in ctx.of_type("kubernetes:apps/v1:Deployment") if get(d.props, "metadata.namespace") in namespaces)
        series = declared * max(1, workloads)
        price = ctx.service("custom_metric_month", "Prometheus custom metrics")
        if price is not None:
            yield Line("monitoring", "Prometheus custom metrics", f"{declared} declared x {max(1, workloads)} Deployment(s) = "
                       f"{series:g} metrics", series * price, series * price)


def _records_data_events(trail: Resource) -> bool:
    for selector in as_list(trail.props.get("advancedEventSelectors")):
        for field in as_list(get(selector, "fieldSelectors")):
            if get(field, "field") == "eventCategory" and "Data" in [str(v) for v in as_list(get(field, "equals"))]:
                return True
    return any(as_list(get(s, "dataResources")) for s in as_list(trail.props.get("eventSelectors")))


def cloudtrail(ctx: Pricing) -> Iterable[Line]:
    """Trails that record data events: the assumed events a month, per 100,000 delivered. Management events'
    first copy is free; a second trail's copy ($2.00 per 100,000) is not estimated."""
    trails = [t for t in ctx.of_type("aws:cloudtrail/trail:Trail") if _records_data_events(t)]
    if not trails:
        return
    price = ctx.service("cloudtrail_data_events_100k", "CloudTrail data events")
    if price is None:
        return
    events = ctx.usage.cloudtrail_data_events_per_month
    cost = len(trails) * events / 100_000 * price
    yield Line("monitoring", "CloudTrail data events", f"{len(trails)} trail(s) x {events:,.0f} events", cost, cost)
