"""What runs now: the live SageMaker endpoint's variants, read while the program runs.

A new endpoint configuration starts its fleet at InitialInstanceCount, and pulumi-aws cannot ask
UpdateEndpoint to retain the running counts (RetainAllVariantProperties), so the program reads
each variant's DesiredInstanceCount (DescribeEndpoint) and the count of the configuration in use
(DescribeEndpointConfig) and carries them into the plan (components/sagemaker_rollout.py).

The read is the one AWS call the program makes itself. A new endpoint answers "Could not find
endpoint" (a ValidationException): nothing runs yet. During a preview a read AWS refuses (no
credentials, no permission) is a warning and the plan uses the stack file's counts; during
`pulumi up` it stops the update, since deploying without it could shrink a fleet at peak.
Under the offline engine the client is `mlserve/offline/aws_reads.py`'s, which answers as AWS does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from components.sagemaker_rollout import RunningVariant

ClientFactory = Callable[[str], Any]
"""region -> a boto3 SageMaker client (or anything with describe_endpoint/describe_endpoint_config)."""


def _boto3_client(region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("sagemaker", config=Config(region_name=region, retries={"mode": "standard"}))


_factory: ClientFactory = _boto3_client


@contextmanager
def client_factory(factory: ClientFactory) -> Iterator[None]:
    """Read through `factory` inside the block (the offline engine's fake AWS)."""
    global _factory
    previous, _factory = _factory, factory
    try:
        yield
    finally:
        _factory = previous


class RunningReadError(Exception):
    """The live endpoint could not be read (not "not found": that means nothing runs)."""


def read_running_variants(endpoint_name: str, region: str) -> dict[str, RunningVariant]:
    """{variant name: RunningVariant} of the live endpoint; {} when it does not exist.
    Raises RunningReadError with one line naming the endpoint and AWS's answer."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _factory(region)
    try:
        endpoint = client.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if _not_found(error):
            return {}
        raise RunningReadError(f"DescribeEndpoint {endpoint_name}: {_describe(error)}") from None
    except BotoCoreError as error:
        raise RunningReadError(f"DescribeEndpoint {endpoint_name}: {error}") from None
    configured: dict[str, int | None] = {}
    config_name = endpoint.get("EndpointConfigName")
    if config_name:
        try:
            config = client.describe_endpoint_config(EndpointConfigName=config_name)
        except ClientError as error:
            if not _not_found(error):
                raise RunningReadError(f"DescribeEndpointConfig {config_name}: {_describe(error)}") from None
            config = {}
        except BotoCoreError as error:
            raise RunningReadError(f"DescribeEndpointConfig {config_name}: {error}") from None
        configured = {v["VariantName"]: v.get("InitialInstanceCount") for v in config.get("ProductionVariants", [])}
    return {v["VariantName"]: RunningVariant(desired_instances=int(v.get("DesiredInstanceCount") or 0),
                                             configured_instances=configured.get(v["VariantName"]))
            for v in endpoint.get("ProductionVariants", []) if "CurrentServerlessConfig" not in v}


def _not_found(error: Any) -> bool:
    """SageMaker's answer for a missing endpoint or configuration: ValidationException,
    "Could not find endpoint ..." (what pulumi-aws's own findEndpoint tests for)."""
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationException" and "Could not find" in details.get("Message", "")


def _describe(error: Any) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code')}: {details.get('Message')}"


def running_variants(endpoint_name: str, region: str) -> dict[str, RunningVariant]:
    """`read_running_variants` for the program: a refused read warns during a preview (the plan
    then shows the stack file's counts) and stops `pulumi up` with one clear line."""
    import pulumi

    try:
        return read_running_variants(endpoint_name, region)
    except RunningReadError as error:
        if pulumi.runtime.is_dry_run():
            pulumi.log.warn(f"sagemaker: cannot read the running capacity ({error}); this preview shows the "
                            "stack file's instance counts, `pulumi up` needs the read")
            return {}
        raise pulumi.RunError(f"sagemaker: cannot read the running capacity ({error}); a deploy without it could "
                              "start the new fleet below the running one. Give the deploy role "
                              "sagemaker:DescribeEndpoint and sagemaker:DescribeEndpointConfig.") from None
