"""The AWS reads the program makes while it runs (mlserve/stack/running.py), answered offline as
AWS answers them: a real botocore SageMaker client whose HTTP requests never leave the process.

A botocore `before-send` handler returns the HTTP response SageMaker would (its JSON protocol,
status and error headers), so botocore itself parses it: an endpoint that does not exist comes back
as the same `ClientError` (ValidationException, `Could not find endpoint "<arn>".`) a real account
gives, and a running endpoint as DescribeEndpoint's and DescribeEndpointConfig's output shapes.
By default no endpoint exists (a first `pulumi up`); tests describe running ones with
`OfflineSageMaker(endpoints=..., endpoint_configs=...)`.
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class OfflineSageMaker:
    """The endpoints and endpoint configurations that exist in the offline account."""

    account: str
    region: str
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Endpoint name -> DescribeEndpoint output (EndpointStatus, EndpointConfigName, ProductionVariants)."""
    endpoint_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Configuration name -> DescribeEndpointConfig output (ProductionVariants with InitialInstanceCount)."""

    def client(self, region: str) -> Any:
        """A boto3 SageMaker client answered from this state (unsigned: no credentials involved)."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        client = boto3.client("sagemaker", config=Config(region_name=region, signature_version=UNSIGNED,
                                                         retries={"mode": "standard", "total_max_attempts": 1}))
        client.meta.events.register_first("before-send.sagemaker", self._answer)
        return client

    def _answer(self, request, **_: Any):
        operation = request.headers.get("X-Amz-Target", b"").decode().rsplit(".", 1)[-1]
        body = json.loads(request.body or b"{}")
        if operation == "DescribeEndpoint":
            name = body["EndpointName"]
            if name not in self.endpoints:
                return _error(f'Could not find endpoint "{self._arn("endpoint", name)}".')
            return _ok({"EndpointName": name, "EndpointArn": self._arn("endpoint", name),
                        "CreationTime": 0, "LastModifiedTime": 0, **self.endpoints[name]})
        if operation == "DescribeEndpointConfig":
            name = body["EndpointConfigName"]
            if name not in self.endpoint_configs:
                return _error(f'Could not find endpoint configuration "{self._arn("endpoint-config", name)}".')
            return _ok({"EndpointConfigName": name, "EndpointConfigArn": self._arn("endpoint-config", name),
                        "CreationTime": 0, **self.endpoint_configs[name]})
        raise NotImplementedError(f"the offline AWS answers no SageMaker {operation}; add it to mlserve/offline/aws_reads.py")

    def _arn(self, kind: str, name: str) -> str:
        # SageMaker lower-cases resource names in ARNs.
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"


def running_endpoint(variants: Mapping[str, tuple[int, int]], *, config_name: str, status: str = "InService"
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(DescribeEndpoint output, DescribeEndpointConfig output) of an endpoint whose variants
    {name: (desired instances now, InitialInstanceCount of its configuration)} run on ml.m7i.large."""
    endpoint = {"EndpointConfigName": config_name, "EndpointStatus": status, "ProductionVariants": [
        {"VariantName": name, "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": desired,
         "DesiredInstanceCount": desired} for name, (desired, _) in variants.items()]}
    config = {"ProductionVariants": [
        {"VariantName": name, "ModelName": f"model-{name}", "InitialInstanceCount": configured,
         "InstanceType": "ml.m7i.large", "InitialVariantWeight": 1.0} for name, (_, configured) in variants.items()]}
    return endpoint, config


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
    from botocore.awsrequest import AWSResponse

    body = json.dumps(payload).encode()
    return AWSResponse("https://api.sagemaker.offline/", status,
                       {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "offline",
                        **(headers or {})}, _Raw(body))


def _ok(payload: dict[str, Any]):
    return _response(200, payload)


def _error(message: str):
    # SageMaker's JSON error: __type and Message, status 400, and the error type header.
    return _response(400, {"__type": "ValidationException", "Message": message},
                     {"x-amzn-ErrorType": "ValidationException"})
