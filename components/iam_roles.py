"""IAM roles the cluster needs: roles AWS services assume, and IRSA roles for pods.

Trust policies are built as plain JSON (no `get_policy_document` data source, so the offline
engine needs no fake for it). Permissions come from AWS managed policies, attached by ARN.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws


def partition_of(arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """The partition ("aws", "aws-cn", "aws-us-gov") an ARN lives in: its second field.

    Read off an ARN the program already has rather than from the getPartition data source:
    one call less, and always the partition of the provider that created the resource.
    """
    return pulumi.Output.from_input(arn).apply(lambda value: value.split(":")[1])


def managed_policy_arn(partition: pulumi.Input[str], policy_name: str) -> pulumi.Output[str]:
    """ARN of an AWS managed policy in a partition."""
    return pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", policy_name)


def service_trust_policy(service: str) -> str:
    """A trust policy that lets one AWS service principal (e.g. "eks.amazonaws.com") assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def irsa_trust_document(provider_arn: str, issuer: str, *, namespace: str, service_account: str) -> dict[str, Any]:
    """A trust policy for IAM roles for service accounts: only the one Kubernetes service account
    `namespace/service_account`, with a token minted for STS, can assume the role.

    `issuer` is the cluster's OIDC issuer without "https://"; one with a scheme is refused, as
    the condition keys it prefixes would match no token. Without the `sub` condition any pod in
    the cluster could assume the role.
    https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
    """
    if "://" in issuer:
        raise ValueError(f"oidc_issuer must not carry a scheme, got {issuer!r} (drop 'https://')")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def irsa_trust_policy(
    oidc_provider_arn: pulumi.Input[str], oidc_issuer: pulumi.Input[str], *, namespace: str, service_account: str
) -> pulumi.Output[str]:
    """`irsa_trust_document` as JSON, once the provider ARN and the issuer are known."""
    return pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
        lambda args: json.dumps(
            irsa_trust_document(args[0], args[1], namespace=namespace, service_account=service_account)
        )
    )


def role_with_policies(
    name: str,
    *,
    description: str,
    assume_role_policy: pulumi.Input[str],
    managed_policies: Sequence[str],
    parent: pulumi.Resource,
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """An IAM role named by Pulumi (`name` plus a random suffix) with AWS managed policies
    (by name, e.g. "AmazonEKSClusterPolicy") attached in the role's own partition.

    The attachments are returned so dependants can wait for the permissions, not just the role.
    """
    role = aws.iam.Role(
        name,
        description=description,
        assume_role_policy=assume_role_policy,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    partition = partition_of(role.arn)
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}",
            role=role.name,
            policy_arn=managed_policy_arn(partition, policy),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for policy in managed_policies
    ]
    return role, attachments
