"""S3 rules for the model store and data-capture buckets: private, versioned, KMS, TLS only."""

from __future__ import annotations

from collections.abc import Mapping

from policies.rules import as_list, get, json_document, resource_rule, stack_rule, statements, truthy

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
ENCRYPTION = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
              "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _public_access(props, _args):
    off = [flag for flag in BLOCK_FLAGS if not truthy(props.get(flag))]
    if off:
        yield f"set {off} = true on the bucket's public access block"


def _versioning(props, _args):
    status = get(props, "versioningConfiguration.status")
    if status != "Enabled":
        yield f"versioningConfiguration.status is {status!r}: set 'Enabled' so an overwritten model version can be recovered"


def _kms(args):
    """Default encryption is SSE-KMS, except on a bucket that receives S3 server access logs: S3 delivers
    those only to a target whose default encryption is SSE-S3 ("Default server-side encryption with AWS KMS
    keys (SSE-KMS) is not supported" for the destination bucket,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html)."""
    log_targets = {get(r.props, "targetBucket") for r in args.resources if r.resource_type in BUCKET_LOGGING}
    for resource in args.resources:
        if resource.resource_type not in ENCRYPTION:
            continue
        allowed = ("aws:kms", "aws:kms:dsse")
        if get(resource.props, "bucket") in log_targets:
            allowed += ("AES256",)
        for rule in as_list(resource.props.get("rules")) or [{}]:
            default = get(rule, "applyServerSideEncryptionByDefault") or {}
            algorithm = get(default, "sseAlgorithm")
            if algorithm == "AES256" and "AES256" in allowed:
                continue
            if algorithm not in allowed or not get(default, "kmsMasterKeyId"):
                yield ("set applyServerSideEncryptionByDefault = {sseAlgorithm: aws:kms, kmsMasterKeyId: <the store's key>}"
                       " (SSE-S3 only on a bucket that receives S3 server access logs)"), resource.urn


def _denies_insecure_transport(statement: Mapping) -> bool:
    secure = get(statement, "Condition.Bool", {}).get("aws:SecureTransport")
    actions = as_list(statement.get("Action"))
    return statement.get("Effect") == "Deny" and str(secure).lower() == "false" and ("s3:*" in actions or "*" in actions)


def _tls_only(props, _args):
    if not any(_denies_insecure_transport(s) for s in statements(json_document(props.get("policy")))):
        yield ("add a statement {Effect: Deny, Principal: '*', Action: 's3:*', Resource: [bucket, bucket/*], "
               "Condition: {Bool: {aws:SecureTransport: 'false'}}} to the bucket policy")


def _companions(args):
    """Every bucket has its public access block, versioning, encryption and policy resources."""
    by_bucket: dict[str, set[str]] = {}
    buckets = [r for r in args.resources if r.resource_type in BUCKETS]
    kinds = {PUBLIC_ACCESS_BLOCK: "public access block", **{t: "versioning" for t in VERSIONING},
             **{t: "encryption configuration" for t in ENCRYPTION}, BUCKET_POLICY: "TLS-only bucket policy"}
    for resource in args.resources:
        if resource.resource_type in kinds:
            for dependency in resource.dependencies:
                by_bucket.setdefault(dependency.urn, set()).add(kinds[resource.resource_type])
    for bucket in buckets:
        missing = sorted(set(kinds.values()) - by_bucket.get(bucket.urn, set()))
        if missing:
            yield f"bucket {bucket.name} has no {', '.join(missing)}: declare them for it", bucket.urn


RULES = [
    resource_rule("s3-public-access-blocked",
                  "S3 buckets block every form of public access (Checkov CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56).",
                  [PUBLIC_ACCESS_BLOCK], _public_access),
    resource_rule("s3-versioning", "S3 buckets have versioning enabled (Checkov CKV_AWS_21).", VERSIONING, _versioning),
    stack_rule("s3-kms-encryption", "S3 buckets are encrypted with a KMS key by default, S3 access-log targets "
               "with SSE-S3 as S3 requires (Checkov CKV_AWS_145).", _kms),
    resource_rule("s3-tls-only",
                  "S3 bucket policies deny requests without TLS (AWS Security Hub control S3.5).",
                  [BUCKET_POLICY], _tls_only),
    stack_rule("s3-bucket-guardrails-present",
               "Every S3 bucket has a public access block, versioning, KMS encryption and a TLS-only policy "
               "(Checkov CKV2_AWS_6, CKV_AWS_21, CKV_AWS_145, AWS Security Hub S3.5).",
               _companions),
]
