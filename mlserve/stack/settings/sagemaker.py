"""The `sagemaker` section: what only the SageMaker target has (instances, serverless, data
capture, autoscaling, deployment guardrails). Which versions serve and the canary weight come
from `models` and `rollout` (`mlserve/stack/settings/models.py`), shared with the EKS target.

Limits come from the SageMaker API reference:
- ProductionVariant / ProductionVariantServerlessConfig:
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html
- DataCaptureConfig (InitialSamplingPercentage 0-100):
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html
- TrafficRoutingConfig (WaitIntervalInSeconds 0-3600):
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from components import sagemaker_instances
from components.sagemaker import MAX_DEPLOYMENT_TIMEOUT_S, deployment_timeout_s
from mlserve.stack.settings.base import NAMESPACE, _Model, allows
from mlserve.stack.settings.models import Models

# What serverless endpoints cannot do: GPUs, VPC/network isolation, data capture, more than
# one production variant (so no canary by weight).
# https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)


class Variant(_Model):
    """Instances of one production variant (`stable` or `canary`)."""

    instance_type: str = "ml.m7i.large"
    """A real-time instance type, e.g. ml.m7i.large (CPU) or ml.g6.xlarge (GPU); families in
    components/sagemaker_instances.py."""
    instance_count: int = Field(default=1, ge=1, le=100)
    """Instances at creation, within `autoscaling.minInstances`..`maxInstances`; the autoscaling target
    owns the count afterwards."""

    @field_validator("instance_type")
    @classmethod
    @allows("`ml.<family>.<size>`, family one of " + ", ".join(sagemaker_instances.CPU_FAMILIES
                                                            + sagemaker_instances.GPU_FAMILIES))
    def _known_type(cls, value: str) -> str:
        sagemaker_instances.vcpus(value)  # raises naming the supported families and sizes
        return value


class Serverless(_Model):
    """A serverless variant instead of instances: dev only (cold starts, no data capture,
    one variant, no GPU)."""

    memory_mb: Literal[SERVERLESS_MEMORY_MB] = 2048  # type: ignore[valid-type]
    """Memory of the serverless variant, in MB (1 GB steps)."""
    max_concurrency: int = Field(default=5, ge=1, le=200)
    """Concurrent invocations before SageMaker throttles."""


class Autoscaling(_Model):
    """Application Auto Scaling per instance variant: target tracking on invocations per instance."""

    min_instances: int = Field(default=1, ge=1, le=100)
    """Fewest instances per variant."""
    max_instances: int = Field(default=4, ge=1, le=100)
    """Most instances per variant."""
    target_invocations_per_instance: int = Field(default=300, ge=1, le=100_000)
    """SageMakerVariantInvocationsPerInstance per minute that target tracking holds."""
    scale_in_cooldown_s: int = Field(default=300, ge=0, le=3600)
    """Seconds after a scale-in before the next one."""
    scale_out_cooldown_s: int = Field(default=60, ge=0, le=3600)
    """Seconds after a scale-out before the next one."""

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        """`minInstances <= maxInstances`."""
        if self.min_instances > self.max_instances:
            raise ValueError(f"need minInstances <= maxInstances, got {self.min_instances} > {self.max_instances}")
        return self


class Guardrails(_Model):
    """How an endpoint update shifts traffic to the new fleet (blue/green) and bakes."""

    mode: Literal["canary", "linear"] = "canary"
    """canary: one step of `stepPercent`, then the rest; linear: equal steps of `stepPercent`."""
    step_percent: int = Field(default=10, ge=1, le=50)
    """Capacity percent shifted per step (SageMaker: at most 50 for canary)."""
    bake_minutes: int = Field(default=10, ge=0, le=60)
    """Wait between steps, and after the last one, while the rollback alarms are watched."""


class SageMakerSettings(_Model):
    """The SageMaker real-time endpoint (`targets` contains `sagemaker`)."""

    stable: Variant = Field(default_factory=Variant)
    """The instances of the variant serving `models.stable`."""
    canary: Variant = Field(default_factory=Variant)
    """The instances of the variant serving `models.canary` (used only when it is set)."""
    serverless: Serverless | None = None
    """One serverless variant instead of instances (dev only): not with `models.canary`, data capture
    or `tags.environment: prod`; `stable` and `canary` are then unused."""
    data_capture_percent: int = Field(default=10, ge=0, le=100)
    """Percent of requests and responses captured to `s3://<store>/data-capture/<endpoint>/`; 0: off."""
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    """Target tracking per instance variant."""
    guardrails: Guardrails = Field(default_factory=Guardrails)
    """Blue/green traffic shifting of an endpoint update, rolled back on the alarms."""
    max_batch_size: int = Field(default=64, ge=1, le=4096)
    """Rows per model call in the server (MLSERVE_MAX_BATCH_SIZE)."""
    max_batch_wait_ms: float = Field(default=2.0, ge=0, le=1000)
    """Longest a request waits for others to join its batch (MLSERVE_MAX_BATCH_WAIT_MS)."""


def sagemaker_problems(section: SageMakerSettings, *, targets: list[str], models: Models | None,
                       environment: str) -> list[str]:
    """Rules across `sagemaker`, `models`, `targets` and the environment, naming the key."""
    if "sagemaker" not in targets:
        return []
    key = f"{NAMESPACE}:sagemaker"
    problems = []
    g = section.guardrails
    if deployment_timeout_s(g.mode, g.step_percent, g.bake_minutes) > MAX_DEPLOYMENT_TIMEOUT_S:
        problems.append(f"{key}.guardrails = {{mode: {g.mode}, stepPercent: {g.step_percent}, bakeMinutes: "
                        f"{g.bake_minutes}}}: the deployment would outlast SageMaker's {MAX_DEPLOYMENT_TIMEOUT_S // 3600} h "
                        "limit; use larger steps or a shorter bake")
    if models is None:
        problems.append(f"{NAMESPACE}:models: targets has sagemaker but no models.stable to serve")
    if section.serverless is not None:
        if environment == "prod":
            problems.append(f"{key}.serverless: not allowed where tags.environment is 'prod' (cold starts, "
                            "no data capture, no canary variant); use instance variants")
        if models is not None and models.canary is not None:
            problems.append(f"{key}.serverless: a serverless endpoint has one variant, so models.canary cannot serve; "
                            "remove one of them")
        if section.data_capture_percent:
            problems.append(f"{key}.dataCapturePercent = {section.data_capture_percent}: serverless endpoints "
                            "do not capture data; set it to 0")
    for track in ("stable", "canary"):
        variant: Variant = getattr(section, track)
        scaling = section.autoscaling
        if not scaling.min_instances <= variant.instance_count <= scaling.max_instances:
            problems.append(f"{key}.{track}.instanceCount = {variant.instance_count}: outside "
                            f"autoscaling.minInstances..maxInstances ({scaling.min_instances}..{scaling.max_instances})")
    return problems
