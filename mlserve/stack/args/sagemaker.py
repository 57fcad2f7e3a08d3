"""Settings -> `SageMakerArgs` (pure, tested without Pulumi). Canary weights come from `rollout`,
exactly as the EKS target reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.sagemaker import ModelNetworkArgs, SageMakerArgs, VariantArgs, variant_weights
from components.sagemaker_rollout import RunningVariant, carried_instances
from mlserve.stack.args.naming import endpoint_name
from mlserve.stack.settings import Settings
from mlserve.stack.settings.models import ModelRef


def served_tracks(settings: Settings) -> dict[str, ModelRef]:
    """The tracks that serve a version: stable always, canary when set."""
    return {} if settings.models is None else settings.models.served()


def sagemaker_variants(settings: Settings) -> list[tuple[str, str | None]]:
    """(variant, instance type or None for serverless) of the endpoint."""
    section = settings.sagemaker
    return [(track, None if section.serverless else getattr(section, track).instance_type)
            for track in served_tracks(settings)]


def variant_args(settings: Settings, model_data_urls: Mapping[str, pulumi.Input[str]],
                 running: Mapping[str, RunningVariant] | None = None) -> tuple[VariantArgs, ...]:
    """The endpoint's variants; `running` (the live endpoint's variants, `mlserve/stack/running.py`)
    raises each instance count to what runs now (components/sagemaker_rollout.py)."""
    section = settings.sagemaker
    tracks = served_tracks(settings)
    weights = variant_weights(settings.rollout.canary_weight, has_canary="canary" in tracks)
    variants = []
    for track in tracks:
        variant = getattr(section, track)
        serverless = section.serverless
        variants.append(VariantArgs(
            track=track, model_data_url=model_data_urls[track], weight=weights[track],
            instance_type=None if serverless else variant.instance_type,
            instance_count=carried_instances(variant.instance_count, (running or {}).get(track),
                                             section.autoscaling.max_instances),
            serverless_memory_mb=serverless.memory_mb if serverless else None,
            serverless_max_concurrency=serverless.max_concurrency if serverless else 5,
        ))
    return tuple(variants)


def sagemaker_args(settings: Settings, stack: str, *, image_uri: pulumi.Input[str], repository_arn: pulumi.Input[str],
                   registry_kms_key_arn: pulumi.Input[str], model_data_urls: Mapping[str, pulumi.Input[str]],
                   model_read_arns: Sequence[pulumi.Input[str]], model_bucket_arn: pulumi.Input[str],
                   model_kms_key_arn: pulumi.Input[str], rollback_alarm_names: Sequence[pulumi.Input[str]],
                   network: ModelNetworkArgs | None = None,
                   running: Mapping[str, RunningVariant] | None = None) -> SageMakerArgs:
    """`network`: the VPC the instance variants' models run in (ignored for serverless);
    `running`: the live endpoint's variants, {} for a new endpoint."""
    section = settings.sagemaker
    scaling, guardrails = section.autoscaling, section.guardrails
    return SageMakerArgs(
        endpoint_name=endpoint_name(stack), image_uri=image_uri, repository_arn=repository_arn,
        registry_kms_key_arn=registry_kms_key_arn, model_bucket_arn=model_bucket_arn,
        model_read_arns=tuple(model_read_arns), model_kms_key_arn=model_kms_key_arn,
        variants=variant_args(settings, model_data_urls, running), data_capture_percent=section.data_capture_percent,
        network=None if section.serverless else network,
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
# InvokeEndpoint takes bodies up to 6 MiB (botocore's sagemaker-runtime model: Body max 6291456;
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html): the
# server takes what the platform delivers instead of answering 413 (a ModelError to the caller).
INVOKE_ENDPOINT_MAX_BODY_BYTES = 6_291_456
# The most rows such a body can carry (a one-feature CSV row is "0" and a newline), so the row limit
# never refuses what the platform accepts; time is bounded by the timeout above instead.
SERVER_MAX_ROWS_PER_REQUEST = INVOKE_ENDPOINT_MAX_BODY_BYTES // 2
# Per worker process: one largest body in the model, the next one parsed and waiting, so the model
# never idles; a third waits outside (503 + Retry-After). A 6 MiB JSON body holds ~55 MB as Python
# objects while parsed, so this bounds a worker's extra memory near 110 MB whatever SageMaker sends.
SERVER_MAX_QUEUED_BYTES = 2 * INVOKE_ENDPOINT_MAX_BODY_BYTES
# A 503 from the container reaches the caller as a ModelError: SageMaker does not try another
# instance. Waiting (unparsed) is kinder than the EKS defaults (a 10 ms target, 500 ms at most),
# as long as the model's own time still fits in the invocation's 60 s: the target is the
# ceiling, so a request is refused only when it is not expected to get room within 10 s.
SERVER_MAX_QUEUE_WAIT_MS = 10_000


def server_environment(settings: Settings) -> dict[str, str]:
    """The batching, limit and timeout variables the server reads (serving_app/settings.py)."""
    return {"MLSERVE_MAX_BATCH_SIZE": str(settings.sagemaker.max_batch_size),
            "MLSERVE_MAX_BATCH_WAIT_MS": str(settings.sagemaker.max_batch_wait_ms),
            "MLSERVE_REQUEST_TIMEOUT_S": str(SERVER_REQUEST_TIMEOUT_S),
            "MLSERVE_MAX_BODY_BYTES": str(INVOKE_ENDPOINT_MAX_BODY_BYTES),
            "MLSERVE_MAX_ROWS_PER_REQUEST": str(SERVER_MAX_ROWS_PER_REQUEST),
            "MLSERVE_MAX_QUEUED_ROWS": str(2 * SERVER_MAX_ROWS_PER_REQUEST),
            "MLSERVE_MAX_QUEUED_BYTES": str(SERVER_MAX_QUEUED_BYTES),
            "MLSERVE_QUEUE_WAIT_TARGET_MS": str(SERVER_MAX_QUEUE_WAIT_MS),
            "MLSERVE_MAX_QUEUE_WAIT_MS": str(SERVER_MAX_QUEUE_WAIT_MS)}


def endpoint_inputs(registry, model_store, *, image_uri: pulumi.Input[str]) -> dict:
    """The endpoint's image, registry and model inputs, as keywords of `sagemaker_args`: the
    SageMaker form of each served version (`model.tar.gz`), the read grant of its prefix and the
    store's bucket and key, all from the ModelStore component (never recomputed here)."""
    return dict(image_uri=image_uri, repository_arn=registry.repository_arn,
                registry_kms_key_arn=registry.kms_key_arn, model_data_urls=dict(model_store.archive_uris),
                model_read_arns=list(model_store.read_arns.values()), model_bucket_arn=model_store.bucket_arn,
                model_kms_key_arn=model_store.kms_key_arn)


def model_network(network) -> ModelNetworkArgs:
    """The Network component's private subnets, CIDR and S3 prefix list, for the models' VpcConfig."""
    return ModelNetworkArgs(vpc_id=network.vpc_id, subnet_ids=list(network.private_subnet_ids),
                            vpc_cidr=network.vpc_cidr, s3_prefix_list_id=network.s3_prefix_list_id)
