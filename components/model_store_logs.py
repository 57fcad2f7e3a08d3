"""Who read or wrote which model version: the model store's access record, in one of two forms.

- "s3-access-logs": S3 server access logs of the store bucket (every request, best effort,
  delivered within hours; no charge but the storage).
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html
- "cloudtrail": a trail of the store's object-level data events only (GetObject, PutObject,
  DeleteObject with the caller's IAM identity, within minutes; $0.10 per 100,000 events),
  its files encrypted with the store's key and integrity-validated.
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html

Both write into a log bucket of the stack's own. For access logs it uses SSE-S3, not the store's
KMS key: S3 server access logging cannot deliver to a bucket whose default encryption is SSE-KMS.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
For the trail it defaults to SSE-KMS with the store's key, the key CloudTrail encrypts its files with.
The log bucket itself is not access-logged (a bucket logging into itself loops).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.private_bucket import PrivateBucket, private_bucket

ACCESS_LOG_PREFIX = "s3-access/"
TRAIL_PREFIX = "cloudtrail"


def access_log_delivery_statement(log_bucket_arn: str, *, source_bucket_arn: str, account: str) -> dict[str, Any]:
    """The S3 logging service may write access logs of `source_bucket_arn` under ACCESS_LOG_PREFIX.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general"""
    return {
        "Sid": "S3ServerAccessLogsDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{log_bucket_arn}/{ACCESS_LOG_PREFIX}*",
        "Condition": {"ArnLike": {"aws:SourceArn": source_bucket_arn}, "StringEquals": {"aws:SourceAccount": account}},
    }


def trail_delivery_statements(log_bucket_arn: str, *, trail_arn: str, account: str) -> list[dict[str, Any]]:
    """CloudTrail (this trail only) may check the bucket's ACL and write its files.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html"""
    source = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return [
        {"Sid": "CloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": log_bucket_arn, "Condition": source},
        {"Sid": "CloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"{log_bucket_arn}/{TRAIL_PREFIX}/AWSLogs/{account}/*",
         "Condition": {**source, "StringEquals": {**source["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"}}},
    ]


def object_data_event_selector(bucket_arn: pulumi.Input[str]) -> aws.cloudtrail.TrailAdvancedEventSelectorArgs:
    """Data events on the store's objects and nothing else (no management events: the account's
    own trail has those, and a second copy of them is charged)."""
    return aws.cloudtrail.TrailAdvancedEventSelectorArgs(
        name="Model store object events",
        field_selectors=[
            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(field="eventCategory", equals=["Data"]),
            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(field="resources.type", equals=["AWS::S3::Object"]),
            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                field="resources.ARN", starts_withs=[pulumi.Output.concat(bucket_arn, "/")]
            ),
        ],
    )


def _log_bucket_encryption(mode: str, kms_key_arn: pulumi.Input[str]) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
    """SSE-S3 where S3 delivers access logs (its only supported target encryption), else the store's key."""
    if mode == "s3-access-logs":
        default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(sse_algorithm="AES256")
        return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(apply_server_side_encryption_by_default=default)
    default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
        sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn)
    return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(apply_server_side_encryption_by_default=default,
                                                                  bucket_key_enabled=True)


def declare_access_record(
    name: str,
    *,
    mode: str,
    store_bucket: aws.s3.Bucket,
    log_bucket_name: pulumi.Input[str],
    trail_name: str,
    trail_arn: pulumi.Input[str],
    kms_key_arn: pulumi.Input[str],
    account: pulumi.Input[str],
    retention_days: int,
    force_destroy: bool,
    protect: bool,
    parent: pulumi.Resource,
) -> PrivateBucket:
    """The log bucket and either the store's access logging or its trail, children of `parent`."""
    if mode not in ("s3-access-logs", "cloudtrail"):
        raise ValueError(f"access logging mode {mode!r}: 's3-access-logs' or 'cloudtrail'")
    if mode == "s3-access-logs":
        def statements(log_arn: str) -> pulumi.Output:
            return pulumi.Output.all(store_bucket.arn, account).apply(
                lambda v: [access_log_delivery_statement(log_arn, source_bucket_arn=v[0], account=v[1])]
            )
    else:
        def statements(log_arn: str) -> pulumi.Output:
            return pulumi.Output.all(trail_arn, account).apply(
                lambda v: trail_delivery_statements(log_arn, trail_arn=v[0], account=v[1])
            )
    logs = private_bucket(
        f"{name}-logs",
        bucket_name=log_bucket_name,
        encryption=_log_bucket_encryption(mode, kms_key_arn),
        lifecycle_rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-logs",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=1
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
            ),
        ],
        extra_statements=statements,
        force_destroy=force_destroy,
        protect=protect,
        parent=parent,
    )
    after_logs = pulumi.ResourceOptions(parent=parent, depends_on=list(logs.configured))
    if mode == "s3-access-logs":
        aws.s3.BucketLogging(
            f"{name}-access-logging",
            bucket=store_bucket.id,
            target_bucket=logs.bucket.id,
            target_prefix=ACCESS_LOG_PREFIX,
            # Keys by event date (s3-access/<account>/<region>/<bucket>/YYYY/MM/DD/...): Athena partitions.
            target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
                partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                    partition_date_source="EventTime"
                ),
            ),
            opts=after_logs,
        )
    else:
        aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=logs.bucket.id,
            s3_key_prefix=TRAIL_PREFIX,
            advanced_event_selectors=[object_data_event_selector(store_bucket.arn)],
            include_global_service_events=False,
            is_multi_region_trail=False,
            enable_log_file_validation=True,
            kms_key_id=kms_key_arn,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=list(logs.configured), protect=protect),
        )
    return logs

