"""Rollout time against pulumi-aws's fixed wait, traffic steps against the fleet they apply to, and
the instance count a new configuration carries: pure decisions, no AWS."""

from __future__ import annotations

import pytest

from components import sagemaker_rollout as rollout
from components.sagemaker_rollout import RunningVariant, carried_instances


def test_a_rollout_is_the_new_fleets_start_and_every_bake():
    assert rollout.PROVISIONING_S == 15 * 60
    assert rollout.rollout_s("canary", 10, 10) == 15 * 60 + 3 * 10 * 60  # canary, rest, termination wait
    assert rollout.rollout_s("linear", 10, 2) == 15 * 60 + 11 * 2 * 60
    assert rollout.execution_timeout_s("canary", 50, 0) == 900
    assert rollout.execution_timeout_s("canary", 50, 0) >= rollout.MIN_EXECUTION_TIMEOUT_S


@pytest.mark.parametrize("mode,step,bake,fits", [
    ("canary", 10, 10, True),    # 45 min
    ("canary", 10, 13, True),    # 54 min
    ("canary", 10, 15, False),   # 60 min: no room for the provider's polling
    ("linear", 10, 10, False),   # 125 min
    ("linear", 50, 10, True),    # 2 steps + termination: 45 min
    ("linear", 25, 8, True),     # 4 steps + termination: 55 min
])
def test_a_rollout_must_end_inside_the_providers_wait(mode, step, bake, fits):
    problem = rollout.rollout_problem(mode, step, bake)
    assert (problem is None) is fits
    if not fits:
        minutes = -(-rollout.rollout_s(mode, step, bake) // 60)
        assert f"takes up to {minutes} min" in problem and "pulumi up waits 60 min" in problem


def test_prods_old_guardrails_are_refused_with_the_computed_minutes():
    # 15-minute bakes: 3 bakes + 15 min of start = 60 min, the whole provider wait.
    assert rollout.rollout_problem("canary", 10, 15).startswith(
        "a canary deployment takes up to 60 min (3 bakes of 15 min after 15 min to start the new fleet)")


@pytest.mark.parametrize("percent,instances,shifted", [(10, 1, 1), (10, 2, 1), (10, 12, 2), (50, 4, 2), (50, 3, 2)])
def test_a_step_is_a_whole_number_of_instances(percent, instances, shifted):
    assert rollout.step_instances(percent, instances) == shifted


@pytest.mark.parametrize("mode,percent,sizes,ok", [
    ("canary", 10, range(2, 9), True),
    ("canary", 10, range(1, 9), False),   # a one-instance variant has no 10% canary
    ("canary", 50, [2, 4], True),
    ("canary", 50, range(2, 5), False),   # 50% of 3 instances is 2 of 3
    ("linear", 9, range(2, 9), False),    # SageMaker: linear steps are 10-50%
    ("linear", 10, range(2, 9), True),
    ("canary", 51, [10], False),
])
def test_a_step_fits_every_fleet_size_it_can_apply_to(mode, percent, sizes, ok):
    assert (rollout.step_problem(mode, percent, sizes) is None) is ok


def test_a_one_instance_variant_is_named_in_the_problem():
    assert rollout.step_problem("canary", 10, [1]).startswith(
        "10% of 1 instance(s) is 1 instance(s), over half the variant")


@pytest.mark.parametrize("settings_count,running,max_instances,expected", [
    (2, None, 8, 2),                                   # a new endpoint: the stack file's count
    (2, RunningVariant(8, 2), 8, 8),                   # at peak: the new fleet starts at 8
    (2, RunningVariant(12, 2), 8, 8),                  # never above the autoscaling maximum
    (2, RunningVariant(3, 8), 8, 8),                   # scaled in since: the configuration in use stays
    (2, RunningVariant(2, 2), 8, 2),                   # nothing moved: nothing changes
    (4, RunningVariant(2, 2), 8, 4),                   # the stack file raised the floor
    (2, RunningVariant(3, None), 8, 3),                # configuration unknown: what runs
])
def test_a_new_configuration_carries_the_running_capacity(settings_count, running, max_instances, expected):
    assert carried_instances(settings_count, running, max_instances) == expected
