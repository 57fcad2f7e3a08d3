"""How long a guarded SageMaker deployment takes, whether its traffic steps fit the fleet they
apply to, and how many instances a new endpoint configuration starts with: pure decisions over
plain values, tested without Pulumi or AWS.

Limits and their sources:
- pulumi-aws (terraform-provider-aws `internal/service/sagemaker/endpoint.go`, `waitEndpointInService`)
  waits a fixed 60 minutes for the endpoint to turn InService after CreateEndpoint or UpdateEndpoint
  (`const timeout = 60 * time.Minute`; the resource declares no Timeouts block, so Pulumi's
  customTimeouts cannot raise it), and treats any status outside Creating/Updating/SystemUpdating,
  RollingBack included, as a failure of `pulumi up`. The same file validates
  `maximum_execution_timeout_in_seconds` to 600-14400 (the API allows 28800).
- SageMaker's TrafficRoutingConfig: a canary step is at most 50% of a variant's instances, a linear
  step 10-50%: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html
- BlueGreenUpdatePolicy: MaximumExecutionTimeoutInSeconds 600-28800, and larger than every wait
  together: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

PROVIDER_WAIT_S = 3600
"""pulumi-aws waits this long for InService after an endpoint create or update (fixed in its code)."""
WAIT_MARGIN_S = 300
"""Kept free of the provider's wait: its polling, the UpdateEndpoint call, clock skew."""
MAX_ROLLOUT_S = PROVIDER_WAIT_S - WAIT_MARGIN_S
"""The longest deployment the stack declares: one that always ends inside the provider's wait."""
MIN_EXECUTION_TIMEOUT_S = 600
"""BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds minimum (API and provider)."""

# The green fleet must be serving before the first traffic step: the stack bounds that time by
# setting both of SageMaker's per-variant startup timeouts explicitly (ProductionVariant
# ModelDataDownloadTimeoutInSeconds and ContainerStartupHealthCheckTimeoutInSeconds, 60-3600 each),
# plus the instance launch itself.
MODEL_DOWNLOAD_TIMEOUT_S = 300
CONTAINER_STARTUP_TIMEOUT_S = 300
INSTANCE_LAUNCH_ALLOWANCE_S = 300
PROVISIONING_S = MODEL_DOWNLOAD_TIMEOUT_S + CONTAINER_STARTUP_TIMEOUT_S + INSTANCE_LAUNCH_ALLOWANCE_S

CANARY_MAX_PERCENT = 50
LINEAR_MIN_PERCENT, LINEAR_MAX_PERCENT = 10, 50


def bakes(mode: str, step_percent: int) -> int:
    """Baking periods of one deployment: canary = after the canary step and after the rest;
    linear = one after each step; plus the termination wait (one bake) before the old fleet goes."""
    steps = 2 if mode == "canary" else math.ceil(100 / step_percent)
    return steps + 1


def rollout_s(mode: str, step_percent: int, bake_minutes: int) -> int:
    """Seconds a deployment can take: the green fleet's start, then every bake."""
    return PROVISIONING_S + bakes(mode, step_percent) * bake_minutes * 60


def execution_timeout_s(mode: str, step_percent: int, bake_minutes: int) -> int:
    """MaximumExecutionTimeoutInSeconds: the whole rollout, at least SageMaker's 600 s."""
    return max(MIN_EXECUTION_TIMEOUT_S, rollout_s(mode, step_percent, bake_minutes))


def rollout_problem(mode: str, step_percent: int, bake_minutes: int) -> str | None:
    """Why this rollout cannot finish while `pulumi up` waits for it, or None."""
    total = rollout_s(mode, step_percent, bake_minutes)
    if total <= MAX_ROLLOUT_S:
        return None
    return (f"a {mode} deployment takes up to {math.ceil(total / 60)} min ({bakes(mode, step_percent)} bakes of "
            f"{bake_minutes} min after {PROVISIONING_S // 60} min to start the new fleet), but pulumi up waits "
            f"{PROVIDER_WAIT_S // 60} min for the endpoint (at most {MAX_ROLLOUT_S // 60} min leave room for its polling)"
            "; use fewer steps (a larger stepPercent, or canary) or a shorter bakeMinutes")


def step_instances(step_percent: int, instances: int) -> int:
    """Instances one traffic step turns on: a share of the variant's fleet, at least one instance
    (SageMaker cannot route to part of one)."""
    return max(1, math.ceil(step_percent * instances / 100))


def step_problem(mode: str, step_percent: int, fleet_sizes: Iterable[int]) -> str | None:
    """Why `step_percent` does not fit every fleet size a variant can have when a deployment starts,
    or None. A canary step is at most half the variant's instances; a linear step 10-50% of them."""
    if mode == "linear" and not LINEAR_MIN_PERCENT <= step_percent <= LINEAR_MAX_PERCENT:
        return f"a linear step must be {LINEAR_MIN_PERCENT}-{LINEAR_MAX_PERCENT}% of the fleet, got {step_percent}%"
    if mode == "canary" and not 1 <= step_percent <= CANARY_MAX_PERCENT:
        return f"a canary step must be 1-{CANARY_MAX_PERCENT}% of the fleet, got {step_percent}%"
    for instances in fleet_sizes:
        shifted = step_instances(step_percent, instances)
        if 2 * shifted > instances:
            return (f"{step_percent}% of {instances} instance(s) is {shifted} instance(s), over half the variant "
                    f"(SageMaker's limit for a {mode} step); a {mode} step needs a variant of at least 2 instances "
                    "at every size autoscaling allows, and a step that stays at or under half of each")
    return None


@dataclass(frozen=True)
class RunningVariant:
    """A variant of the live endpoint, as DescribeEndpoint and DescribeEndpointConfig report it."""

    desired_instances: int
    """DesiredInstanceCount: what autoscaling (or the last deployment) asks for now."""
    configured_instances: int | None
    """InitialInstanceCount of the endpoint configuration in use (None: serverless or unknown)."""


def carried_instances(settings_count: int, running: RunningVariant | None, max_instances: int) -> int:
    """InitialInstanceCount of the variant in a new endpoint configuration.

    UpdateEndpoint brings the new (green) fleet up at the configuration's InitialInstanceCount, and
    pulumi-aws cannot ask for RetainAllVariantProperties; a model deploy at peak would start the
    green fleet at the stack file's count. So the count is the larger of the settings' and the one
    running now (capped at the autoscaling maximum). Every input of an endpoint configuration
    replaces it (a new blue/green deployment), so a count the configuration in use already covers
    is kept as it is: autoscaling moving the fleet below it changes nothing in the plan; only a
    fleet larger than any configuration said makes the next `up` carry the new count."""
    needed = min(max(settings_count, running.desired_instances if running else 0), max_instances)
    configured = running.configured_instances if running else None
    if configured is not None and needed <= configured <= max_instances:
        return configured
    return needed
