"""Which alarms the stack creates, as plain data: one `AlarmSpec` per model-health signal, per
variant (SageMaker) or track (EKS). `components/alarms.py` declares them; tests read them here.

Metric names and units:
- SageMaker invocation metrics (AWS/SageMaker; ModelLatency in microseconds; the Average of
  Invocation5XXErrors/4XXErrors is the share of invocations that failed, since each invocation
  counts 0 or 1) and instance metrics (/aws/sagemaker/Endpoints; CPUUtilization and
  GPUUtilization summed over cores/GPUs, 0-100 x count):
  https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html
- Container Insights (ContainerInsights): https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-enhanced-EKS.html
  (which dimension sets each metric has: the agent's own EKS test, aws/amazon-cloudwatch-agent-test
  test/metric_value_benchmark/eks_daemon_test.go; pod metrics by PodName, the workload's name)
- The serving pods' own Prometheus metrics (serving_app/metrics.py), collected by the CloudWatch
  agent into PROMETHEUS_NAMESPACE (`components/eks_monitoring.py` declares what it keeps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from components import sagemaker_instances
from components.serving_contract import deployment_name

PROMETHEUS_NAMESPACE = "ContainerInsights/Prometheus"
"""Where the CloudWatch agent publishes scraped Prometheus metrics on EKS."""
REQUESTS_METRIC = "mlserve_requests_total"
"""serving_app's `mlserve_requests` counter as Prometheus exposes it."""
LATENCY_P99_METRIC = "mlserve_request_duration_p99_seconds"
"""serving_app's p99 request latency of the last minute, per route (a gauge: the CloudWatch agent
drops histograms; serving_app/window_stats.py)."""
LATENCY_P50_METRIC = "mlserve_request_duration_p50_seconds"
BATCH_MEAN_METRIC = "mlserve_batch_size_rows_mean"
"""serving_app's mean rows per model call of the last minute (a gauge)."""


@dataclass(frozen=True)
class Thresholds:
    """Alarm thresholds (settings `alarms`)."""

    p99_latency_ms: float = 250
    overhead_latency_ms: float = 100
    error_5xx_percent: float = 2
    error_4xx_percent: float = 10
    cpu_percent: float = 85
    gpu_percent: float = 90
    pod_restarts: int = 3
    evaluation_periods: int = 3


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm: a single metric, or metric math over `metrics` (id -> metric)."""

    suffix: str
    """Appended to the stack prefix: the alarm's name is "<prefix>-<suffix>"."""
    description: str
    threshold: float
    namespace: str = ""
    metric: str = ""
    dimensions: Mapping[str, str] = field(default_factory=dict)
    statistic: str | None = "Average"
    extended_statistic: str | None = None
    expression: str | None = None
    """Metric math over `metrics`; then `namespace`/`metric` are unused."""
    metrics: Mapping[str, tuple[str, str, Mapping[str, str]]] = field(default_factory=dict)
    """id -> (namespace, metric, dimensions), summed per period."""
    period_s: int = 60
    evaluation_periods: int = 3
    comparison: str = "GreaterThanThreshold"
    rollback: bool = False
    """SageMaker rolls a guarded deployment back when this alarm fires."""
    target: str = ""
    """"sagemaker", "eks" or "registry"."""


def sagemaker_alarm_specs(endpoint_name: str, variants: Sequence[tuple[str, str | None]], t: Thresholds) -> list[AlarmSpec]:
    """Per variant: p99 model latency, 5XX and 4XX shares (latency and 5XX roll deployments back),
    p99 overhead latency, CPU and, on GPU instances, GPU use. `variants`: (variant name, instance type or None for serverless)."""
    specs = []
    for variant, instance_type in variants:
        dims = {"EndpointName": endpoint_name, "VariantName": variant}
        common = dict(dimensions=dims, evaluation_periods=t.evaluation_periods, target="sagemaker")
        specs += [
            AlarmSpec(suffix=f"sagemaker-{variant}-p99-latency", namespace="AWS/SageMaker", metric="ModelLatency",
                      statistic=None, extended_statistic="p99", threshold=t.p99_latency_ms * 1000, rollback=True,
                      description=f"{endpoint_name}/{variant}: p99 model latency over {t.p99_latency_ms} ms", **common),
            AlarmSpec(suffix=f"sagemaker-{variant}-5xx", namespace="AWS/SageMaker", metric="Invocation5XXErrors",
                      threshold=t.error_5xx_percent / 100, rollback=True,
                      description=f"{endpoint_name}/{variant}: over {t.error_5xx_percent}% of invocations answered 5XX", **common),
            AlarmSpec(suffix=f"sagemaker-{variant}-4xx", namespace="AWS/SageMaker", metric="Invocation4XXErrors",
                      threshold=t.error_4xx_percent / 100,
                      description=f"{endpoint_name}/{variant}: over {t.error_4xx_percent}% of invocations answered 4XX", **common),
            # SageMaker's own share of the latency (routing, payload transfer), in microseconds: it pages
            # but does not roll back, a new model version does not cause it.
            AlarmSpec(suffix=f"sagemaker-{variant}-overhead-latency", namespace="AWS/SageMaker", metric="OverheadLatency",
                      statistic=None, extended_statistic="p99", threshold=t.overhead_latency_ms * 1000,
                      description=f"{endpoint_name}/{variant}: p99 SageMaker overhead latency over "
                                  f"{t.overhead_latency_ms} ms", **common),
        ]
        if instance_type is None:  # serverless variants report no instance metrics
            continue
        specs.append(AlarmSpec(
            suffix=f"sagemaker-{variant}-cpu", namespace="/aws/sagemaker/Endpoints", metric="CPUUtilization",
            threshold=t.cpu_percent * sagemaker_instances.vcpus(instance_type),
            description=f"{endpoint_name}/{variant}: CPU over {t.cpu_percent}% of {instance_type}", **common))
        if gpus := sagemaker_instances.gpus(instance_type):
            specs.append(AlarmSpec(
                suffix=f"sagemaker-{variant}-gpu", namespace="/aws/sagemaker/Endpoints", metric="GPUUtilization",
                threshold=t.gpu_percent * gpus,
                description=f"{endpoint_name}/{variant}: GPU over {t.gpu_percent}% of {instance_type}", **common))
    return specs


def eks_alarm_specs(cluster_name: str, namespace: str, tracks: Sequence[str], t: Thresholds,
                    workloads: Mapping[str, str] | None = None) -> list[AlarmSpec]:
    """Per track: p99 latency and 5xx share from the pods' own metrics, pods left pending
    (unschedulable, e.g. no GPU node), container restarts; for the cluster: failed nodes.
    `workloads`: per track, the Deployment whose pods it is (default `deployment_name(track)`; under
    Flagger the stable track is "model-server-primary")."""
    specs = []
    for track in tracks:
        workload = (workloads or {}).get(track) or deployment_name(track)
        pods = {"ClusterName": cluster_name, "Namespace": namespace, "track": track}
        errors = {**pods, "status_class": "5xx"}
        others = {**pods, "status_class": "other"}
        specs += [
            # The worst pod's (and route's) p99 of each minute.
            AlarmSpec(suffix=f"eks-{track}-p99-latency", namespace=PROMETHEUS_NAMESPACE, metric=LATENCY_P99_METRIC,
                      dimensions=pods, statistic="Maximum", threshold=t.p99_latency_ms / 1000,
                      evaluation_periods=t.evaluation_periods, target="eks",
                      description=f"{cluster_name} {track}: p99 request latency over {t.p99_latency_ms} ms"),
            AlarmSpec(suffix=f"eks-{track}-5xx", threshold=t.error_5xx_percent, evaluation_periods=t.evaluation_periods,
                      expression="100 * FILL(errors, 0) / (FILL(errors, 0) + FILL(others, 0))",
                      metrics={"errors": (PROMETHEUS_NAMESPACE, REQUESTS_METRIC, errors),
                               "others": (PROMETHEUS_NAMESPACE, REQUESTS_METRIC, others)},
                      statistic=None, target="eks",
                      description=f"{cluster_name} {track}: over {t.error_5xx_percent}% of requests answered 5xx"),
            # A pod pending through every sample of 10 minutes (Minimum > 0): no node fits, e.g. no GPU
            # capacity with the pool at its maximum. A pod waiting minutes for a new node does not alarm.
            AlarmSpec(suffix=f"eks-{track}-pending", namespace="ContainerInsights", metric="pod_status_pending",
                      dimensions={"ClusterName": cluster_name, "Namespace": namespace, "PodName": workload},
                      statistic="Minimum", threshold=0, period_s=300, evaluation_periods=2, target="eks",
                      description=f"{cluster_name} {track}: serving pods unschedulable for 10 minutes (no node fits, e.g. no GPU)"),
            AlarmSpec(suffix=f"eks-{track}-restarts", namespace="ContainerInsights",
                      metric="pod_number_of_container_restarts", statistic="Maximum", threshold=t.pod_restarts,
                      dimensions={"ClusterName": cluster_name, "Namespace": namespace, "PodName": workload},
                      period_s=300, evaluation_periods=1, target="eks",
                      description=f"{cluster_name} {track}: serving containers restarted over {t.pod_restarts} times"),
        ]
    specs += [
        AlarmSpec(suffix="eks-failed-nodes", namespace="ContainerInsights", metric="cluster_failed_node_count",
                  dimensions={"ClusterName": cluster_name}, statistic="Maximum", threshold=0, period_s=60,
                  evaluation_periods=t.evaluation_periods, target="eks",
                  description=f"{cluster_name}: nodes failing (NotReady or with a failing condition)"),
    ]
    return specs
