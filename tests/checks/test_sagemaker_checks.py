"""smoke, status and gate against a mocked endpoint and alarms (moto, in process): the right
answer passes, every failure is one line with its own exit code."""

from __future__ import annotations

import pytest

from mlserve.checks import ExitCode
from mlserve.checks.__main__ import main
from mlserve.checks.aws import Clients
from tests.checks.conftest import ENDPOINT, REGION, answer, refuse, throttle


def smoke(clients, sample, *extra):
    return main(["smoke", "--target", "sagemaker", "--endpoint", ENDPOINT, "--sample", str(sample), *extra],
                clients=clients)


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_smoke_passes_when_the_canary_answers_each_row_from_its_version(aws, endpoint, sample, capsys):
    answer({"predictions": [0, 1]}, variant="canary", version="4")
    assert smoke(aws, sample, "--track", "canary", "--expect-version", "4") == ExitCode.OK
    assert "2 predictions from model version 4" in capsys.readouterr().out


def test_smoke_fails_on_the_wrong_version(aws, endpoint, sample, capsys):
    answer({"predictions": [0, 1]}, variant="stable", version="3")
    assert smoke(aws, sample, "--expect-version", "4") == ExitCode.WRONG_ANSWER
    assert "answered by model version '3', expected '4'" in one_line(capsys)


@pytest.mark.parametrize("body", [{"predictions": [0]}, {"error": "x"}, {"predictions": "0,1"}])
def test_smoke_fails_on_the_wrong_shape(aws, endpoint, sample, capsys, body):
    answer(body, variant="stable", version="3")
    assert smoke(aws, sample) == ExitCode.WRONG_ANSWER
    assert one_line(capsys).startswith("mlserve.checks smoke: endpoint mlserve-prod variant stable: ")


def test_smoke_of_a_missing_endpoint_or_variant(aws, endpoint, sample, capsys):
    assert main(["smoke", "--target", "sagemaker", "--endpoint", "mlserve-nope", "--sample", str(sample)],
                clients=aws) == ExitCode.NOT_FOUND
    assert "mlserve-nope" in one_line(capsys)
    aws.sagemaker.delete_endpoint(EndpointName=endpoint)
    assert smoke(aws, sample) == ExitCode.NOT_FOUND


def test_a_model_answering_500_is_a_wrong_answer_as_on_eks(aws, endpoint, sample, capsys):
    # InvokeEndpoint's ModelError (HTTP 424) carries the container's 500; EKS's smoke sees the 500 itself.
    refuse(aws.runtime, "InvokeEndpoint", code="ModelError", status=424,
           message="Received server error (500) from primary with message \"boom\".")
    assert smoke(aws, sample) == ExitCode.WRONG_ANSWER
    assert "the model answered an error (Received server error (500)" in one_line(capsys)


def test_the_runtimes_not_found_is_no_such_endpoint(aws, endpoint, sample, capsys):
    # The runtime says ValidationError (not the API's ValidationException) for a missing endpoint.
    refuse(aws.runtime, "InvokeEndpoint", code="ValidationError", status=400,
           message=f"Endpoint {ENDPOINT} of account 123456789012 not found.")
    assert smoke(aws, sample) == ExitCode.NOT_FOUND
    assert f"Endpoint {ENDPOINT} of account 123456789012 not found." in one_line(capsys)


def test_a_throttled_call_is_retried(aws, endpoint, sample, capsys):
    answer({"predictions": [0, 1]}, variant="stable", version="3")
    throttled = throttle(aws.runtime, "InvokeEndpoint", times=2)
    assert smoke(aws, sample, "--expect-version", "3") == ExitCode.OK
    assert throttled["throttled"] == 2  # retried twice, then answered


def test_throttling_that_outlasts_the_retries_has_its_own_exit_code(aws, endpoint, sample, capsys):
    throttled = throttle(aws.sagemaker, "DescribeEndpoint", times=100)
    assert smoke(aws, sample) == ExitCode.THROTTLED
    assert throttled["throttled"] == 3  # max_attempts
    assert "throttled by AWS (ThrottlingException) after 2 retries" in one_line(capsys)


def test_no_credentials(no_credentials, sample, capsys):
    assert smoke(Clients(REGION, max_attempts=1), sample) == ExitCode.NO_CREDENTIALS
    assert "no AWS credentials" in one_line(capsys)


def test_status_shows_weights_instances_and_alarm_states(aws, endpoint, alarms, outputs_file, capsys):
    aws.cloudwatch.set_alarm_state(AlarmName=alarms[1], StateValue="ALARM", StateReason="test")
    outputs = outputs_file(sagemaker_endpoint_name=endpoint, alarm_names=alarms)
    assert main(["status", "--stack-outputs", str(outputs)], clients=aws) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"endpoint {ENDPOINT}: InService" in out
    assert "variant stable: weight 90.0" in out and "variant canary: weight 10.0" in out
    assert "instances 2" in out and "instances 1" in out
    assert "alarms: 1 OK, 1 ALARM, 0 INSUFFICIENT_DATA" in out and f"ALARM {alarms[1]}" in out


def test_gate_passes_when_no_alarm_fires(aws, alarms, outputs_file, capsys):
    assert main(["gate", "--stack-outputs", str(outputs_file(alarm_names=alarms)), "--timeout", "0", "--window", "0"],
                clients=aws) == ExitCode.OK
    assert "gate passed: 2 alarms OK for 0 s" in capsys.readouterr().out


def test_gate_fails_while_an_alarm_fires_until_the_timeout(aws, alarms, capsys):
    aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason="test")
    code = main(["gate", "--alarm-prefix", "mlserve-prod-", "--timeout", "0.2", "--poll", "0.05"], clients=aws)
    assert code == ExitCode.ALARM
    assert f"1 alarm(s) in ALARM: {alarms[0]}" in one_line(capsys)


def test_gate_waits_for_an_alarm_to_settle(aws, alarms):
    from mlserve.checks.gate import gate

    aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason="deploying")
    sleeps = []

    def sleep(seconds):  # the alarm clears while the gate waits
        sleeps.append(seconds)
        aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="OK", StateReason="settled")

    assert gate(aws, names=alarms, prefix=None, timeout_s=60, poll_s=15, window_s=0, sleep=sleep).startswith("gate passed")
    assert sleeps == [15]


def test_gate_without_the_stacks_alarms_is_not_found(aws, alarms, capsys):
    assert main(["gate", "--alarm-prefix", "mlserve-dev-", "--timeout", "0"], clients=aws) == ExitCode.NOT_FOUND
    assert "alarms not found" in one_line(capsys)


def test_a_missing_output_names_the_flag_and_the_output(aws, sample, outputs_file, capsys):
    outputs = outputs_file(alarm_names=[])
    assert main(["smoke", "--target", "sagemaker", "--sample", str(sample), "--stack-outputs", str(outputs)],
                clients=aws) == ExitCode.USAGE
    assert "need --endpoint, or --stack-outputs with the output 'sagemaker_endpoint_name'" in one_line(capsys)


def test_the_sample_is_read_from_the_model_store(aws, endpoint, capsys):
    s3 = __import__("boto3").client("s3", region_name=REGION)
    s3.create_bucket(Bucket="store", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="store", Key="models/fraud-model/3/sample.json", Body=b'{"rows": [[1, 2, 3, 4]]}')
    answer({"predictions": [1]}, variant="stable", version="3")
    assert main(["smoke", "--target", "sagemaker", "--endpoint", endpoint,
                 "--sample", "s3://store/models/fraud-model/3/"], clients=aws) == ExitCode.OK
    assert "1 predictions from model version 3" in capsys.readouterr().out
