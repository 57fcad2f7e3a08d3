"""The SageMaker execution role's permissions, as a plain document: pull this repository, read
these model versions, write the endpoint's logs, metrics and data capture, use these keys.

What SageMaker needs from the role: https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html#sagemaker-roles-createmodel-perms
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def endpoint_log_group(endpoint_name: str) -> str:
    """The log group SageMaker writes the container's stdout/stderr to."""
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


@dataclass(frozen=True)
class VpcGrant:
    """The VPC, subnets and security group the models' network interfaces are created in."""

    vpc_id: str
    subnet_ids: Sequence[str]
    security_group_id: str


def _vpc_statements(partition: str, region: str, account: str, vpc: VpcGrant) -> list[dict[str, Any]]:
    """What SageMaker does with the role to put the models in the VPC: describe the network, and
    create, permit and delete network interfaces, only in these subnets with this group.
    https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html#host-vpc-configure-sg"""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    interfaces = f"{ec2}:network-interface/*"
    in_vpc = {"ArnEquals": {"ec2:Vpc": f"{ec2}:vpc/{vpc.vpc_id}"}}
    return [
        # Describe* calls have no resource-level permissions.
        {"Sid": "DescribeNetwork", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]},
        {"Sid": "CreateInterfaces", "Effect": "Allow", "Action": ["ec2:CreateNetworkInterface"],
         "Resource": [interfaces, *(f"{ec2}:subnet/{s}" for s in vpc.subnet_ids),
                      f"{ec2}:security-group/{vpc.security_group_id}"]},
        {"Sid": "ManageInterfaces", "Effect": "Allow", "Resource": interfaces, "Condition": in_vpc,
         "Action": ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission"]},
    ]


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
    vpc: VpcGrant | None = None,
) -> dict[str, Any]:
    """Least privilege for one endpoint. `model_object_arns` are "<bucket ARN>/<version prefix>*";
    `capture_prefix_arn` the data capture objects (None: capture off); `vpc` where the models' network
    interfaces go (None: not in a VPC)."""
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
    if vpc is not None:
        statements += _vpc_statements(partition, region, account, vpc)
    if capture_prefix_arn is not None:
        statements.insert(3, {"Sid": "WriteDataCapture", "Effect": "Allow", "Action": ["s3:PutObject"],
                              "Resource": capture_prefix_arn})
    return {"Version": "2012-10-17", "Statement": statements}
