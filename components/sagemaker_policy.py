"""The SageMaker execution role's permissions, as a plain document: pull this repository, read
these model versions, write the endpoint's logs, metrics and data capture, use these keys.

What SageMaker needs from the role: https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createmodel-perms
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def endpoint_log_group(endpoint_name: str) -> str:
    """The log group SageMaker writes the container's stdout/stderr to."""
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


def execution_policy_document(
    *,
    partition: str,
    region: str,
    account: str,
    endpoint_name: str,
    repository_arn: str,
    model_object_arns: Sequence[str],
    capture_prefix_arn: str | None,
    key_arns: Sequence[str],
) -> dict[str, Any]:
    """Least privilege for one endpoint. `model_object_arns` are "<bucket ARN>/<version prefix>*";
    `capture_prefix_arn` the data capture objects (None: capture off)."""
    if not model_object_arns:
        raise ValueError("model_object_arns: the role must read at least one model version")
    log_group = f"arn:{partition}:logs:{region}:{account}:log-group:{endpoint_log_group(endpoint_name)}"
    statements: list[dict[str, Any]] = [
        # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/security_iam_id-based-policy-examples.html
        {"Sid": "EcrToken", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Sid": "PullImage", "Effect": "Allow",
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": repository_arn},
        {"Sid": "ReadModelVersions", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": list(model_object_arns)},
        {"Sid": "WriteLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": [log_group, f"{log_group}:log-stream:*"]},
        # PutMetricData has no resource-level permissions; the namespace condition is the scope.
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html
        {"Sid": "WriteMetrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}}},
        {"Sid": "UseKeys", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], "Resource": list(key_arns)},
    ]
    if capture_prefix_arn is not None:
        statements.insert(3, {"Sid": "WriteDataCapture", "Effect": "Allow", "Action": ["s3:PutObject"],
                              "Resource": capture_prefix_arn})
    return {"Version": "2012-10-17", "Statement": statements}
