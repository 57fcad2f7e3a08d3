"""The stack's CloudWatch dashboard, as plain JSON: latency percentiles, errors, requests,
instances or replicas, batch size and GPU use, for each target the stack runs.
Body format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from components.alarm_specs import (BATCH_MEAN_METRIC, LATENCY_P50_METRIC, LATENCY_P99_METRIC, PROMETHEUS_NAMESPACE,
                                    REQUESTS_METRIC)
from components.serving_contract import deployment_name


def _widget(title: str, metrics: list[list], *, region: str, stat: str = "Average", y: int = 0, x: int = 0) -> dict:
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {"title": title, "region": region, "stat": stat, "period": 60, "view": "timeSeries",
                           "metrics": metrics}}


def dashboard_body(*, region: str, endpoint_name: str | None, variants: Sequence[str], cluster_name: str | None,
                   namespace: str, tracks: Sequence[str]) -> str:
    """One row of widgets per target: SageMaker (endpoint, variants) and/or EKS (cluster, tracks)."""
    widgets: list[dict] = []
    row = 0
    if endpoint_name is not None:
        def per_variant(namespace_: str, metric: str, stat: str | None = None) -> list[list]:
            return [[namespace_, metric, "EndpointName", endpoint_name, "VariantName", v, *([{"stat": stat}] if stat else [])]
                    for v in variants]
        widgets += [
            _widget("SageMaker model latency (us) p50/p90/p99", [
                *per_variant("AWS/SageMaker", "ModelLatency", "p50"), *per_variant("AWS/SageMaker", "ModelLatency", "p90"),
                *per_variant("AWS/SageMaker", "ModelLatency", "p99")], region=region, y=row, x=0),
            _widget("SageMaker invocations and 4XX/5XX", [
                *per_variant("AWS/SageMaker", "Invocations"), *per_variant("AWS/SageMaker", "Invocation4XXErrors"),
                *per_variant("AWS/SageMaker", "Invocation5XXErrors")], region=region, stat="Sum", y=row, x=12),
            _widget("SageMaker CPU / GPU use (% x cores)", [
                *per_variant("/aws/sagemaker/Endpoints", "CPUUtilization"),
                *per_variant("/aws/sagemaker/Endpoints", "GPUUtilization")], region=region, y=row + 6, x=0),
            # Each instance reports CPUUtilization once a minute: its sample count is the instance count.
            _widget("SageMaker instances in service", per_variant("/aws/sagemaker/Endpoints", "CPUUtilization", "SampleCount"),
                    region=region, y=row + 6, x=12),
        ]
        row += 12
    if cluster_name is not None:
        def per_track(metric: str, stat: str | None = None) -> list[list]:
            return [[PROMETHEUS_NAMESPACE, metric, "ClusterName", cluster_name, "Namespace", namespace, "track", t,
                     *([{"stat": stat}] if stat else [])] for t in tracks]
        widgets += [
            _widget("EKS request latency (s) p50/p99, worst pod", [*per_track(LATENCY_P50_METRIC, "Maximum"),
                                                                  *per_track(LATENCY_P99_METRIC, "Maximum")],
                    region=region, y=row, x=0),
            _widget("EKS requests by status class", [
                [PROMETHEUS_NAMESPACE, REQUESTS_METRIC, "ClusterName", cluster_name, "Namespace", namespace, "track", t,
                 "status_class", c] for t in tracks for c in ("5xx", "other")], region=region, stat="Sum", y=row, x=12),
            _widget("EKS rows per model call (batch size)", per_track(BATCH_MEAN_METRIC), region=region, y=row + 6, x=0),
            _widget("EKS serving replicas and GPU use", [
                *[["ContainerInsights", "pod_number_of_running_containers", "ClusterName", cluster_name, "Namespace",
                   namespace, "PodName", deployment_name(t)] for t in tracks],
                ["ContainerInsights", "node_gpu_utilization", "ClusterName", cluster_name]], region=region, y=row + 6, x=12),
        ]
    return json.dumps({"widgets": widgets})
