"""Settings -> Args for the SageMaker endpoint, the alarms and the dashboard (pure, tested
without Pulumi). Canary weights come from `rollout`, exactly as the EKS target reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.alarm_specs import AlarmSpec, Thresholds, eks_alarm_specs, sagemaker_alarm_specs
from components.alarms import AlarmsArgs
from components.dashboard import dashboard_body
from components.eks_monitoring import EksMonitoringArgs
from components.sagemaker import SageMakerArgs, VariantArgs, variant_weights
from components.serving_contract import SERVING_NAMESPACE, TRACKS
from mlserve.settings import Settings
from mlserve.settings_models import ModelRef
from mlserve.stack_args import cluster_name, name_prefix, registry_args


def endpoint_name(stack: str) -> str:
    """"mlserve-prod": one endpoint per stack, named before it exists (alarms dimension on it)."""
    return name_prefix(stack)


def served_tracks(settings: Settings) -> dict[str, ModelRef]:
    """The tracks that serve a version: stable always, canary when set."""
    return {} if settings.models is None else settings.models.served()


def sagemaker_variants(settings: Settings) -> list[tuple[str, str | None]]:
    """(variant, instance type or None for serverless) of the endpoint."""
    section = settings.sagemaker
    return [(track, None if section.serverless else getattr(section, track).instance_type)
            for track in served_tracks(settings)]


def variant_args(settings: Settings, model_data_urls: Mapping[str, pulumi.Input[str]]) -> tuple[VariantArgs, ...]:
    section = settings.sagemaker
    tracks = served_tracks(settings)
    weights = variant_weights(settings.rollout.canary_weight, has_canary="canary" in tracks)
    variants = []
    for track in tracks:
        variant = getattr(section, track)
        serverless = section.serverless
        variants.append(VariantArgs(
            track=track, model_data_url=model_data_urls[track], weight=weights[track],
            instance_type=None if serverless else variant.instance_type, instance_count=variant.instance_count,
            serverless_memory_mb=serverless.memory_mb if serverless else None,
            serverless_max_concurrency=serverless.max_concurrency if serverless else 5,
        ))
    return tuple(variants)


def thresholds(settings: Settings) -> Thresholds:
    a = settings.alarms
    return Thresholds(p99_latency_ms=a.p99_latency_ms, error_5xx_percent=a.error_5xx_percent,
                      error_4xx_percent=a.error_4xx_percent, cpu_percent=a.cpu_percent, gpu_percent=a.gpu_percent,
                      pod_restarts=a.pod_restarts, evaluation_periods=a.evaluation_periods)


def alarm_specs(settings: Settings, stack: str) -> tuple[AlarmSpec, ...]:
    specs: list[AlarmSpec] = []
    if "sagemaker" in settings.targets:
        specs += sagemaker_alarm_specs(endpoint_name(stack), sagemaker_variants(settings), thresholds(settings))
    if "eks" in settings.targets and settings.models is not None:
        specs += eks_alarm_specs(cluster_name(stack), SERVING_NAMESPACE, list(served_tracks(settings)), thresholds(settings))
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


def sagemaker_args(settings: Settings, stack: str, *, image_uri: pulumi.Input[str], repository_arn: pulumi.Input[str],
                   registry_kms_key_arn: pulumi.Input[str], model_data_urls: Mapping[str, pulumi.Input[str]],
                   model_read_arns: Sequence[pulumi.Input[str]], model_bucket_arn: pulumi.Input[str],
                   model_kms_key_arn: pulumi.Input[str], rollback_alarm_names: Sequence[pulumi.Input[str]]) -> SageMakerArgs:
    section = settings.sagemaker
    scaling, guardrails = section.autoscaling, section.guardrails
    return SageMakerArgs(
        endpoint_name=endpoint_name(stack), image_uri=image_uri, repository_arn=repository_arn,
        registry_kms_key_arn=registry_kms_key_arn, model_bucket_arn=model_bucket_arn,
        model_read_arns=tuple(model_read_arns), model_kms_key_arn=model_kms_key_arn,
        variants=variant_args(settings, model_data_urls), data_capture_percent=section.data_capture_percent,
        min_instances=scaling.min_instances, max_instances=scaling.max_instances,
        target_invocations_per_instance=scaling.target_invocations_per_instance,
        scale_in_cooldown_s=scaling.scale_in_cooldown_s, scale_out_cooldown_s=scaling.scale_out_cooldown_s,
        guardrail_mode=guardrails.mode, step_percent=guardrails.step_percent, bake_minutes=guardrails.bake_minutes,
        rollback_alarm_names=tuple(rollback_alarm_names), log_retention_days=settings.cluster.log_retention_days,
        protect=settings.cluster.deletion_protection,
        environment=server_environment(settings),
    )


# SageMaker gives an invocation 60 s (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html):
# the server times a request out first, so the caller gets the server's 504, not a dropped connection.
SERVER_REQUEST_TIMEOUT_S = 55.0


def server_environment(settings: Settings) -> dict[str, str]:
    """The batching and timeout variables the server reads (serving_app/settings.py)."""
    return {"MLSERVE_MAX_BATCH_SIZE": str(settings.sagemaker.max_batch_size),
            "MLSERVE_MAX_BATCH_WAIT_MS": str(settings.sagemaker.max_batch_wait_ms),
            "MLSERVE_REQUEST_TIMEOUT_S": str(SERVER_REQUEST_TIMEOUT_S)}


def endpoint_inputs(registry, model_store, *, image_uri: pulumi.Input[str]) -> dict:
    """The endpoint's image, registry and model inputs, as keywords of `sagemaker_args`: the
    SageMaker form of each served version (`model.tar.gz`), the read grant of its prefix and the
    store's bucket and key, all from the ModelStore component (never recomputed here)."""
    return dict(image_uri=image_uri, repository_arn=registry.repository_arn,
                registry_kms_key_arn=registry.kms_key_arn, model_data_urls=dict(model_store.archive_uris),
                model_read_arns=list(model_store.read_arns.values()), model_bucket_arn=model_store.bucket_arn,
                model_kms_key_arn=model_store.kms_key_arn)


def monitoring_args(settings: Settings, stack: str, *, oidc_provider_arn: pulumi.Input[str],
                    oidc_issuer: pulumi.Input[str]) -> EksMonitoringArgs:
    return EksMonitoringArgs(
        cluster_name=cluster_name(stack), kubernetes_version=settings.cluster.kubernetes_version,
        oidc_provider_arn=oidc_provider_arn, oidc_issuer=oidc_issuer, serving_namespace=SERVING_NAMESPACE,
        log_retention_days=settings.cluster.log_retention_days, protect=settings.cluster.deletion_protection,
    )


def check_rules(settings: Settings, stack: str) -> None:
    """Build the alarms', the monitoring's and the endpoint's Args with placeholders
    (mlserve.stack_rules.check_component_rules)."""
    alarms = alarms_args(settings, stack)
    if "eks" in settings.targets:
        monitoring_args(settings, stack, oidc_provider_arn="arn", oidc_issuer="issuer")
    if "sagemaker" in settings.targets:
        tracks = served_tracks(settings)
        sagemaker_args(
            settings, stack, image_uri="image", repository_arn="repository", registry_kms_key_arn="key",
            model_data_urls={t: "s3://placeholder/model.tar.gz" for t in tracks}, model_read_arns=["arn"],
            model_bucket_arn="arn:aws:s3:::placeholder", model_kms_key_arn="key",
            rollback_alarm_names=[spec.suffix for spec in alarms.specs if spec.rollback],
        )
