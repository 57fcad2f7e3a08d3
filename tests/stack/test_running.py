"""The program's one AWS read (mlserve/stack/running.py): the running fleet of the endpoint. The
offline engine's answers are checked against moto's for the same state, and a refused read warns
in a preview and stops an update."""

from __future__ import annotations

import boto3
import pulumi
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from components.sagemaker_rollout import RunningVariant
from mlserve.offline.aws_reads import OfflineSageMaker, running_endpoint
from mlserve.stack import running

REGION = "us-west-2"


def _moto_endpoint(name: str, counts: dict[str, int]) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    for variant in counts:
        sm.create_model(ModelName=f"model-{variant}", ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/sm",
                        PrimaryContainer={"Image": "image@sha256:" + "0" * 64, "ModelDataUrl": "s3://b/m.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[
        {"VariantName": variant, "ModelName": f"model-{variant}", "InitialInstanceCount": count,
         "InstanceType": "ml.m5.xlarge", "InitialVariantWeight": 1.0} for variant, count in counts.items()])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


@pytest.fixture
def moto_account(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_the_offline_answer_for_a_missing_endpoint_is_awss(moto_account):
    offline = OfflineSageMaker(account=DEFAULT_ACCOUNT_ID, region=REGION).client(REGION)
    moto = boto3.client("sagemaker", region_name=REGION)
    errors = []
    for client in (offline, moto):
        with pytest.raises(ClientError) as caught:
            client.describe_endpoint(EndpointName="mlserve-prod")
        errors.append(caught.value.response["Error"])
    assert errors[0]["Code"] == errors[1]["Code"] == "ValidationException"
    arn = f"arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT_ID}:endpoint/mlserve-prod"
    assert errors[0]["Message"] == f'Could not find endpoint "{arn}".'
    assert errors[1]["Message"].startswith("Could not find endpoint") and arn in errors[1]["Message"]
    assert running.read_running_variants("mlserve-prod", REGION) == {}  # moto: nothing runs


def test_offline_and_moto_read_the_same_running_fleet(moto_account):
    _moto_endpoint("mlserve-prod", {"stable": 2, "canary": 3})
    from_moto = running.read_running_variants("mlserve-prod", REGION)
    endpoint, config = running_endpoint({"stable": (2, 2), "canary": (3, 3)}, config_name="mlserve-prod-config")
    offline = OfflineSageMaker(account=DEFAULT_ACCOUNT_ID, region=REGION, endpoints={"mlserve-prod": endpoint},
                               endpoint_configs={"mlserve-prod-config": config})
    with running.client_factory(offline.client):
        from_offline = running.read_running_variants("mlserve-prod", REGION)
    assert from_moto == from_offline == {"stable": RunningVariant(2, 2), "canary": RunningVariant(3, 3)}


class _Refusing:
    def describe_endpoint(self, **_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "DescribeEndpoint")


def test_a_refused_read_warns_in_a_preview_and_stops_an_update(monkeypatch):
    warnings = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    with running.client_factory(lambda region: _Refusing()):
        monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
        assert running.running_variants("mlserve-prod", REGION) == {}
        assert "AccessDeniedException: not authorized" in warnings[0] and "stack file's instance counts" in warnings[0]
        monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: False)
        with pytest.raises(pulumi.RunError, match="DescribeEndpoint mlserve-prod: AccessDeniedException"):
            running.running_variants("mlserve-prod", REGION)
