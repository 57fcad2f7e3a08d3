"""Settings -> `AlarmsArgs`: the model-health alarms of both targets, their topic and the dashboard
(pure, tested without Pulumi)."""

from __future__ import annotations

from components.alarm_specs import (
    AlarmSpec,
    Thresholds,
    eks_alarm_specs,
    sagemaker_alarm_specs,
)
from components.alarms import AlarmsArgs
from components.dashboard import dashboard_body
from components.serving_contract import APP_NAME, SERVING_NAMESPACE, TRACKS
from mlserve.stack.args.naming import cluster_name, endpoint_name, name_prefix
from mlserve.stack.args.registry import registry_args
from mlserve.stack.args.sagemaker import sagemaker_variants, served_tracks
from mlserve.stack.settings import Settings


def thresholds(settings: Settings) -> Thresholds:
    a = settings.alarms
    return Thresholds(p99_latency_ms=a.p99_latency_ms, overhead_latency_ms=a.overhead_latency_ms, error_5xx_percent=a.error_5xx_percent,
                      error_4xx_percent=a.error_4xx_percent, cpu_percent=a.cpu_percent, gpu_percent=a.gpu_percent,
                      pod_restarts=a.pod_restarts, evaluation_periods=a.evaluation_periods)


def alarm_specs(settings: Settings, stack: str) -> tuple[AlarmSpec, ...]:
    specs: list[AlarmSpec] = []
    if "sagemaker" in settings.targets:
        specs += sagemaker_alarm_specs(endpoint_name(stack), sagemaker_variants(settings), thresholds(settings))
    if "eks" in settings.targets and settings.models is not None:
        # Under Flagger the promoted version runs in its primary; the canary's health is the analysis' job.
        workloads = {"stable": f"{APP_NAME}-primary"} if settings.rollout.mode == "automatic" else None
        specs += eks_alarm_specs(cluster_name(stack), SERVING_NAMESPACE, list(served_tracks(settings)), thresholds(settings),
                                 workloads=workloads)
    return tuple(specs)


def alarms_args(settings: Settings, stack: str) -> AlarmsArgs:
    has_sagemaker = "sagemaker" in settings.targets
    has_eks = "eks" in settings.targets
    tracks = list(served_tracks(settings)) or list(TRACKS[:1])
    return AlarmsArgs(
        name_prefix=name_prefix(stack),
        specs=alarm_specs(settings, stack),
        actions_enabled=settings.alarms.actions_enabled,
        subscriptions=tuple((s.protocol, s.endpoint) for s in settings.alarms.subscriptions),
        repository_name=registry_args(settings, stack).repository_name,
        dashboard_body=dashboard_body(
            region=settings.region, endpoint_name=endpoint_name(stack) if has_sagemaker else None, variants=tracks,
            cluster_name=cluster_name(stack) if has_eks else None, namespace=SERVING_NAMESPACE, tracks=tracks),
        protect=settings.cluster.deletion_protection,
    )
