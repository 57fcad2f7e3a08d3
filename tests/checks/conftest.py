"""moto in process for the checks: a two-variant endpoint, the stack's alarms, and a way to make
AWS throttle a call (a botocore handler that answers before moto does)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemakerruntime.models import sagemakerruntime_backends

from mlserve.checks.aws import Clients

REGION = "us-west-2"
ENDPOINT = "mlserve-prod"
ALARMS = ["mlserve-prod-sagemaker-stable-5xx", "mlserve-prod-sagemaker-canary-5xx"]


@pytest.fixture
def aws(monkeypatch) -> Iterator[Clients]:
    """Clients against moto, with botocore's backoff delays at 0 so retried tests stay fast."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    with mock_aws():
        yield Clients(REGION, max_attempts=3)


@pytest.fixture
def endpoint(aws: Clients) -> str:
    """"mlserve-prod" InService with variants stable (90) and canary (10)."""
    sm = aws.sagemaker
    for track in ("stable", "canary"):
        sm.create_model(ModelName=f"model-{track}", ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/sm",
                        PrimaryContainer={"Image": "image@sha256:" + "0" * 64, "ModelDataUrl": "s3://b/m.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="config-1", ProductionVariants=[
        {"VariantName": track, "ModelName": f"model-{track}", "InitialInstanceCount": count,
         # moto validates against an older instance list (no m7i).
         "InstanceType": "ml.m5.xlarge", "InitialVariantWeight": weight}
        for track, count, weight in (("stable", 2, 90.0), ("canary", 1, 10.0))])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="config-1")
    return ENDPOINT


@pytest.fixture
def alarms(aws: Clients) -> list[str]:
    for name in ALARMS:
        aws.cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
                                        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=0.01,
                                        ComparisonOperator="GreaterThanThreshold")
        aws.cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")
    return list(ALARMS)


def answer(body: dict, *, variant: str, version: str, name: str = "fraud-model") -> None:
    """What the endpoint's container answers next (moto's queue of InvokeEndpoint results)."""
    backend = sagemakerruntime_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.results_queue.append((json.dumps(body), "application/json", variant,
                                  f"model_name={name},model_version={version}"))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._body


def throttle(client, operation: str, times: int) -> dict:
    """Answer the next `times` calls of `operation` with ThrottlingException; returns a counter."""
    state = {"left": times, "throttled": 0}
    service = client.meta.service_model.service_id.hyphenize()

    def handler(request, **_):
        if state["left"] <= 0:
            return None
        state["left"] -= 1
        state["throttled"] += 1
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ThrottlingException",
                                              "Content-Type": "application/x-amz-json-1.1"}, _Raw(body))

    client.meta.events.register_first(f"before-send.{service}.{operation}", handler)
    return state


def refuse(client, operation: str, *, code: str, message: str, status: int) -> None:
    """Answer every `operation` call with AWS's JSON error `code` (what the real service returns)."""
    service = client.meta.service_model.service_id.hyphenize()

    def handler(request, **_):
        body = json.dumps({"__type": code, "Message": message}).encode()
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": code,
                                                 "Content-Type": "application/x-amz-json-1.1"}, _Raw(body))

    client.meta.events.register_first(f"before-send.{service}.{operation}", handler)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """An artifact directory's sample.json with two rows of four features."""
    path = tmp_path / "sample.json"
    path.write_text(json.dumps({"rows": [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]]}))
    return path


@pytest.fixture
def outputs_file(tmp_path: Path):
    def _write(**outputs) -> Path:
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(outputs))
        return path
    return _write


@pytest.fixture
def no_credentials(monkeypatch, tmp_path: Path) -> None:
    """No way for botocore to find credentials (and no instance metadata call)."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_SECURITY_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                     "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    boto3.DEFAULT_SESSION = None
