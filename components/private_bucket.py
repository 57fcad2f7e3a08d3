"""A private S3 bucket, the one way this project makes buckets: public access blocked, ACLs
disabled (object ownership enforced), versioning on, default encryption, a lifecycle, and a
bucket policy that always denies requests without TLS plus whatever its owner adds.

Used by the model store (`components/model_store.py`) and its log bucket
(`components/model_store_logs.py`). The policy statements are plain functions, tested as data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


def deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket or its objects made without TLS.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit"""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def policy_document(statements: Sequence[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


@dataclass(frozen=True)
class PrivateBucket:
    """The bucket and the configuration resources writers must wait for."""

    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    configured: tuple[pulumi.Resource, ...]
    """Public access block, ownership, versioning, encryption, lifecycle and policy: an object
    written before them could miss a rule, so uploads depend on all of them."""


def private_bucket(
    name: str,
    *,
    bucket_name: pulumi.Input[str],
    encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleArgs,
    lifecycle_rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs],
    extra_statements: Callable[[str], pulumi.Input[list[dict[str, Any]]]],
    force_destroy: bool,
    protect: bool,
    parent: pulumi.Resource,
) -> PrivateBucket:
    """Declare the bucket `bucket_name` and its configuration as children of `parent`, named
    "<name>", "<name>-public-access-block", ... `extra_statements(bucket_arn)` adds statements after the TLS-only one; it may return an Output."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        name,
        bucket=bucket_name,
        force_destroy=force_destroy,
        tags={"Name": bucket_name},
        # A fixed global name: a replacement must delete the old bucket first or fail on the name.
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, delete_before_replace=True),
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    # ACLs off: the bucket owner owns every object, whoever wrote it (CloudTrail, S3 logging).
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=child,
    )
    encryption_configuration = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket.id, rules=[encryption], opts=child,
    )
    lifecycle = aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=list(lifecycle_rules),
        # S3 rejects a lifecycle configuration on a bucket whose versioning is still being set.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )
    extra = bucket.arn.apply(extra_statements)
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=pulumi.Output.all(bucket.arn, extra).apply(
            lambda values: policy_document([deny_insecure_transport(values[0]), *values[1]])
        ),
        # PutBucketPolicy fails while the public access block is being written.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    return PrivateBucket(
        bucket=bucket,
        policy=policy,
        configured=(public_access, ownership, versioning, encryption_configuration, lifecycle, policy),
    )
