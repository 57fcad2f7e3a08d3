"""The gate against moto for each endpoint and alarm state: it waits for the deployed configuration
to be InService with each variant's version, then for every alarm to have data and stay OK for a
window, and fails with its own exit code on a rollback, a timeout, an alarm or a missing alarm."""

from __future__ import annotations

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.__main__ import main
from mlserve.checks.gate import Deployed, gate
from tests.checks.conftest import ALARMS, ENDPOINT, REGION

ARCHIVES = {"stable": "s3://store/models/fraud-model/3/model.tar.gz",
            "canary": "s3://store/models/fraud-model/4/model.tar.gz"}


class FakeTime:
    """A clock that moves only when the gate sleeps; `on_sleep` changes AWS's state meanwhile."""

    def __init__(self, on_sleep=None) -> None:
        self.now, self.sleeps, self.on_sleep = 0.0, [], on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self)


@pytest.fixture
def deployed(aws) -> Deployed:
    """"mlserve-prod" on configuration "config-2": stable serves version 3, canary version 4."""
    sm = aws.sagemaker
    for track, url in ARCHIVES.items():
        sm.create_model(ModelName=f"model-{track}", ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/sm",
                        PrimaryContainer={"Image": "image@sha256:" + "0" * 64, "ModelDataUrl": url})
    for config in ("config-1", "config-2"):
        sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
            {"VariantName": track, "ModelName": f"model-{track}", "InitialInstanceCount": 2,
             "InstanceType": "ml.m5.xlarge", "InitialVariantWeight": 1.0} for track in ARCHIVES])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="config-2")
    return Deployed(endpoint=ENDPOINT, config_name="config-2", model_archives=ARCHIVES)


def set_status(status: str, config: str | None = None) -> None:
    endpoint = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].endpoints[ENDPOINT]
    endpoint.endpoint_status = status
    if config is not None:
        endpoint.endpoint_config_name = config


def run(aws, *, deployed=None, names=ALARMS, timeout=900.0, window=300.0, time_=None) -> str:
    time_ = time_ or FakeTime()
    return gate(aws, names=names, prefix=None, timeout_s=timeout, poll_s=30, window_s=window, deployed=deployed,
                sleep=time_.sleep, clock=time_.clock)


def fails(code: ExitCode, **kwargs) -> str:
    with pytest.raises(CheckError) as caught:
        run(**kwargs)
    assert caught.value.code == code, caught.value
    return str(caught.value)


def test_in_service_with_each_version_then_alarms_ok_for_the_window_passes(aws, deployed, alarms):
    time_ = FakeTime()
    line = run(aws, deployed=deployed, time_=time_)
    assert line == ("gate passed: endpoint mlserve-prod InService on config-2 (variants stable, canary); "
                    "2 alarms OK for 300 s")
    assert time_.now >= 300  # it watched the alarms for the whole window, not one look


def test_an_update_in_progress_is_waited_for(aws, deployed, alarms):
    set_status("Updating")
    time_ = FakeTime(on_sleep=lambda t: set_status("InService") if t.now >= 120 else None)
    assert run(aws, deployed=deployed, time_=time_).startswith("gate passed: endpoint mlserve-prod InService")


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating"])
def test_still_updating_at_the_timeout_is_a_timeout(aws, deployed, alarms, status):
    set_status(status)
    assert fails(ExitCode.TIMEOUT, aws=aws, deployed=deployed, timeout=600) == (
        f"endpoint mlserve-prod still {status} after 600 s")


def test_rolling_back_is_a_rollback(aws, deployed, alarms):
    set_status("RollingBack")
    assert "is RollingBack" in fails(ExitCode.ROLLED_BACK, aws=aws, deployed=deployed)


def test_in_service_on_the_previous_configuration_is_a_rollback(aws, deployed, alarms):
    set_status("InService", config="config-1")  # SageMaker restored the blue fleet
    assert fails(ExitCode.ROLLED_BACK, aws=aws, deployed=deployed) == (
        "endpoint mlserve-prod is InService on configuration config-1, not the deployed config-2: "
        "the deployment rolled back")


@pytest.mark.parametrize("status", ["Failed", "UpdateRollbackFailed", "OutOfService"])
def test_a_broken_endpoint_is_not_ready(aws, deployed, alarms, status):
    set_status(status)
    assert fails(ExitCode.NOT_READY, aws=aws, deployed=deployed).startswith(f"endpoint mlserve-prod is {status}")


def test_a_variant_serving_another_version_fails(aws, deployed, alarms):
    other = Deployed(endpoint=ENDPOINT, config_name="config-2",
                     model_archives={**ARCHIVES, "canary": "s3://store/models/fraud-model/5/model.tar.gz"})
    assert "variant canary serves s3://store/models/fraud-model/4/model.tar.gz, not the deployed " \
           "s3://store/models/fraud-model/5/model.tar.gz" in fails(ExitCode.WRONG_ANSWER, aws=aws, deployed=other)


def test_alarms_without_data_time_out_instead_of_passing(aws, deployed, alarms):
    # A new alarm is INSUFFICIENT_DATA until CloudWatch has evaluated data (moto starts it at OK).
    for name in alarms:
        aws.cloudwatch.set_alarm_state(AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="new")
    message = fails(ExitCode.TIMEOUT, aws=aws, deployed=deployed, timeout=600)
    assert message.startswith("gate timed out after 600 s: 2 alarm(s) without data (INSUFFICIENT_DATA)")


def test_an_alarm_still_firing_at_the_timeout_is_an_alarm(aws, alarms):
    aws.cloudwatch.set_alarm_state(AlarmName=alarms[1], StateValue="ALARM", StateReason="test")
    assert fails(ExitCode.ALARM, aws=aws, timeout=120).endswith(f"1 alarm(s) in ALARM: {alarms[1]}")


def test_an_alarm_must_stay_ok_for_the_whole_window(aws, alarms):
    # OK at first, ALARM at 60 s, OK again from 90 s: the window restarts and the timeout comes first.
    def flap(t):
        state = "ALARM" if t.now == 60 else "OK"
        aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue=state, StateReason="flap")

    message = fails(ExitCode.TIMEOUT, aws=aws, timeout=380, time_=FakeTime(on_sleep=flap))
    assert message == "gate timed out after 380 s: alarms OK for 290 s of the 300 s window"


def test_an_alarm_name_that_does_not_exist_fails_naming_it(aws, alarms):
    message = fails(ExitCode.NOT_FOUND, aws=aws, names=[*alarms, "mlserve-prod-sagemaker-stable-typo"])
    assert "mlserve-prod-sagemaker-stable-typo" in message and alarms[0] not in message


def test_the_cli_reads_the_endpoint_configuration_and_archives_from_the_stack_outputs(aws, deployed, alarms,
                                                                                        outputs_file, capsys):
    outputs = outputs_file(sagemaker_endpoint_name=ENDPOINT, sagemaker_endpoint_config_name="config-1",
                           model_archive_uris=ARCHIVES, alarm_names=alarms)
    code = main(["gate", "--stack-outputs", str(outputs), "--timeout", "0", "--window", "0"], clients=aws)
    assert code == ExitCode.ROLLED_BACK  # the endpoint is on config-2, the outputs say config-1
    assert "not the deployed config-1" in capsys.readouterr().err
