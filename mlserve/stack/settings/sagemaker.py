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
from components import sagemaker_rollout as rollout
from mlserve.stack.settings.base import NAMESPACE, _Model, allows
from mlserve.stack.settings.models import Models

# What serverless endpoints cannot do: GPUs, VPC/network isolation, data capture, more than
# one production variant (so no canary by weight).
# https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
PROD_MIN_INSTANCES = 2
"""Fewest instances of each variant where tags.environment is prod (creation and autoscaling)."""


class Variant(_Model):
    """Instances of one production variant (`stable` or `canary`)."""

    instance_type: str = "ml.m7i.large"
    """A SageMaker hosting type (botocore's ProductionVariantInstanceType list) the serving image runs
    on: x86_64 CPU (ml.m7i.large, ml.c5.xlarge, ...) or NVIDIA GPU (ml.g6.xlarge, ...)."""
    instance_count: int = Field(default=1, ge=1, le=100)
    """Instances a new endpoint configuration starts with at least; a deploy carries the running
    fleet's count when it is larger (docs/sagemaker.md "Capacity across a deploy")."""

    @field_validator("instance_type")
    @classmethod
    @allows("`ml.<family>.<size>`, family one of " + ", ".join(sagemaker_instances.CPU_FAMILIES
                                                            + sagemaker_instances.GPU_FAMILIES))
    def _known_type(cls, value: str) -> str:
        return sagemaker_instances.check(value)  # raises naming the type, with a "did you mean"


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
    """Capacity percent shifted per step: canary 1-50, linear 10-50, and at most half of every
    variant's instances (so a canary needs variants of 2 or more)."""
    bake_minutes: int = Field(default=10, ge=0, le=60)
    """Wait between steps, and after the last one, while the rollback alarms are watched. The whole
    rollout must end inside the 60 minutes `pulumi up` waits (docs/sagemaker.md "Guardrails")."""


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
    if problem := rollout.rollout_problem(g.mode, g.step_percent, g.bake_minutes):
        problems.append(f"{key}.guardrails = {{mode: {g.mode}, stepPercent: {g.step_percent}, bakeMinutes: "
                        f"{g.bake_minutes}}}: {problem}")
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
    tracks = ("stable", "canary") if models is not None and models.canary is not None else ("stable",)
    scaling = section.autoscaling
    for track in ("stable", "canary"):
        variant: Variant = getattr(section, track)
        if not scaling.min_instances <= variant.instance_count <= scaling.max_instances:
            problems.append(f"{key}.{track}.instanceCount = {variant.instance_count}: outside "
                            f"autoscaling.minInstances..maxInstances ({scaling.min_instances}..{scaling.max_instances})")
    if section.serverless is None:
        for track in tracks:
            variant = getattr(section, track)
            sizes = range(variant.instance_count, max(variant.instance_count, scaling.max_instances) + 1)
            if problem := rollout.step_problem(g.mode, g.step_percent, sizes):
                problems.append(f"{key}.guardrails.stepPercent = {g.step_percent} ({g.mode}, variant {track}: "
                                f"{key}.{track}.instanceCount {variant.instance_count} up to autoscaling.maxInstances "
                                f"{scaling.max_instances}): {problem}")
        if environment == "prod":
            # One instance is one failure from an outage (AWS Config: sagemaker-endpoint-config-prod-instance-count).
            low = [f"{key}.{track}.instanceCount = {getattr(section, track).instance_count}" for track in tracks
                   if getattr(section, track).instance_count < PROD_MIN_INSTANCES]
            if scaling.min_instances < PROD_MIN_INSTANCES:
                low.append(f"{key}.autoscaling.minInstances = {scaling.min_instances}")
            problems += [f"{item}: prod variants keep at least {PROD_MIN_INSTANCES} instances (one instance's loss "
                         "must not stop serving)" for item in low]
    return problems
