"""boto3 clients for the checks, with botocore's standard retry mode (throttling and transient
errors retried with exponential backoff and jitter), and AWS errors turned into `CheckError`s.
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html#standard-retry-mode
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError

from mlserve.checks import CheckError, ExitCode

T = TypeVar("T")
# The codes botocore's standard mode retries as throttling; reaching us means retries ran out.
# https://github.com/boto/botocore/blob/develop/botocore/retries/standard.py
THROTTLING_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
                    "TooManyRequestsException", "ProvisionedThroughputExceededException",
                    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
                    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
                    "EC2ThrottledException"}
CREDENTIAL_CODES = {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
                    "InvalidSignatureException", "SignatureDoesNotMatch"}


class Clients:
    """The three clients the checks use, created on first use in one region."""

    def __init__(self, region: str, *, max_attempts: int = 5) -> None:
        """`max_attempts`: calls in all, the first one included."""
        self.region = region
        self.config = Config(region_name=region, retries={"mode": "standard", "total_max_attempts": max_attempts})

    @cached_property
    def sagemaker(self):
        return boto3.client("sagemaker", config=self.config)

    @cached_property
    def runtime(self):
        return boto3.client("sagemaker-runtime", config=self.config)

    @cached_property
    def cloudwatch(self):
        return boto3.client("cloudwatch", config=self.config)


def call(what: str, function: Callable[..., T], /, **kwargs) -> T:
    """`function(**kwargs)`, with AWS's failures as one-line `CheckError`s naming `what`."""
    try:
        return function(**kwargs)
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise CheckError(ExitCode.NO_CREDENTIALS, f"{what}: no AWS credentials ({error}); run `aws configure` or "
                                                  "`aws sso login`, or set AWS_PROFILE") from None
    except EndpointConnectionError as error:
        raise CheckError(ExitCode.UNREACHABLE, f"{what}: {error}") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        if code in THROTTLING_CODES:
            raise CheckError(ExitCode.THROTTLED, f"{what}: throttled by AWS ({code}) after {attempts} retries; "
                                                 "try again later or raise the API quota") from None
        if code in CREDENTIAL_CODES:
            raise CheckError(ExitCode.NO_CREDENTIALS, f"{what}: credentials refused ({code}: {message})") from None
        # The SageMaker API says ValidationException "Could not find endpoint ..."; the runtime
        # (InvokeEndpoint) says ValidationError "Endpoint ... of account ... not found.".
        if code in ("ValidationException", "ValidationError", "ResourceNotFound", "ResourceNotFoundException") and (
                "not found" in message.lower() or "could not find" in message.lower()):
            raise CheckError(ExitCode.NOT_FOUND, f"{what}: {message}") from None
        # The container answered an error (InvokeEndpoint ModelError, HTTP 424 "Received server error (500)
        # from primary"): the model's answer is wrong, as an HTTP 500 from the EKS ingress is.
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors
        if code == "ModelError":
            raise CheckError(ExitCode.WRONG_ANSWER, f"{what}: the model answered an error ({message})") from None
        if code == "ModelNotReadyException":
            raise CheckError(ExitCode.NOT_READY, f"{what}: {message}") from None
        raise CheckError(ExitCode.AWS_ERROR, f"{what}: {code}: {message}") from None
