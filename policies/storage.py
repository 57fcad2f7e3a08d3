"""S3 rules for the model store and data-capture buckets: private, versioned, KMS, TLS only."""

from __future__ import annotations

from collections.abc import Mapping

from policies.documents import open_statements, sid
from policies.rules import as_list, depends_on, get, json_document, resource_rule, stack_rule, statements, truthy

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
ENCRYPTION = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
              "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
LIFECYCLE = ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
             "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
TRAIL = "aws:cloudtrail/trail:Trail"
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


def _not_public(props, _args):
    for statement in open_statements(props.get("policy")):
        yield (f"bucket policy statement {sid(statement)} allows any principal: name the roles or services, or pin "
               "'*' with an aws:PrincipalAccount/aws:SourceArn/aws:SourceVpce condition")


def _acls_disabled(props, _args):
    ownership = get(props, "rule.objectOwnership")
    if ownership != "BucketOwnerEnforced":
        yield (f"objectOwnership is {ownership!r}: set BucketOwnerEnforced so ACLs are off and the bucket policy "
               "alone decides access")


def _aborts_uploads(props, _args):
    rules = [r for r in as_list(props.get("rules")) if get(r, "status") == "Enabled"]
    if not any(get(r, "abortIncompleteMultipartUpload.daysAfterInitiation") is not None for r in rules):
        yield ("add an Enabled rule with abortIncompleteMultipartUpload.daysAfterInitiation: parts of failed uploads "
               "are billed until deleted")


def _companions(args):
    """Every bucket has its public access block, versioning, encryption, policy, ownership and lifecycle
    resources, each naming that bucket in its `bucket` input."""
    buckets = [r for r in args.resources if r.resource_type in BUCKETS]
    kinds = {PUBLIC_ACCESS_BLOCK: "public access block", **{t: "versioning" for t in VERSIONING},
             **{t: "encryption configuration" for t in ENCRYPTION}, BUCKET_POLICY: "TLS-only bucket policy",
             OWNERSHIP: "ownership controls", **{t: "lifecycle configuration" for t in LIFECYCLE}}
    companions = [r for r in args.resources if r.resource_type in kinds]
    for bucket in buckets:
        present = {kinds[r.resource_type] for r in companions if depends_on(r, "bucket", bucket.urn)}
        missing = sorted(set(kinds.values()) - present)
        if missing:
            yield f"bucket {bucket.name} has no {', '.join(missing)}: declare them for it", bucket.urn


def _trail_covers(trail_props, bucket: str) -> bool:
    """Whether a trail records the data events (reads and writes) of every object in `bucket`."""
    for selector in as_list(get(trail_props, "advancedEventSelectors")):
        fields = {get(f, "field"): f for f in as_list(get(selector, "fieldSelectors"))}
        if as_list(get(fields.get("eventCategory"), "equals")) != ["Data"] or "readOnly" in fields:
            continue
        if as_list(get(fields.get("resources.type"), "equals")) != ["AWS::S3::Object"]:
            continue
        arns = fields.get("resources.ARN")
        if arns is None or any(str(p) in (f"arn:aws:s3:::{bucket}/", f"arn:aws:s3:::{bucket}")
                               for p in as_list(get(arns, "startsWiths")) + as_list(get(arns, "equals"))):
            return True
    for selector in as_list(get(trail_props, "eventSelectors")):
        if get(selector, "readWriteType", "All") != "All":
            continue
        for data in as_list(get(selector, "dataResources")):
            if get(data, "type") == "AWS::S3::Object" and any(
                    str(v) in ("arn:aws:s3", "arn:aws:s3:::", f"arn:aws:s3:::{bucket}/") for v in as_list(get(data, "values"))):
                return True
    return False


def _access_logged(args):
    """Every bucket but a log bucket has its requests recorded: S3 server access logs (a BucketLogging for
    it) or CloudTrail data events on its objects, which also name the IAM identity."""
    logging = [r for r in args.resources if r.resource_type in BUCKET_LOGGING]
    trails = [r for r in args.resources if r.resource_type == TRAIL]
    targets = {get(r.props, "targetBucket") for r in logging} | {get(t.props, "s3BucketName") for t in trails}
    for bucket in (r for r in args.resources if r.resource_type in BUCKETS):
        name = get(bucket.props, "bucket")
        if name in targets:
            continue
        if any(depends_on(r, "bucket", bucket.urn) for r in logging) or any(_trail_covers(t.props, name) for t in trails):
            continue
        yield (f"bucket {bucket.name} records no access: declare an aws.s3.BucketLogging for it or a CloudTrail trail "
               "with S3 data events on its objects (modelStore.accessLogging)"), bucket.urn


RULES = [
    resource_rule("s3-public-access-blocked",
                  "S3 buckets block every form of public access (Checkov CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56).",
                  [PUBLIC_ACCESS_BLOCK], _public_access),
    resource_rule("s3-versioning", "S3 buckets have versioning enabled (Checkov CKV_AWS_21).", VERSIONING, _versioning),
    stack_rule("s3-kms-encryption", "S3 buckets are encrypted with a KMS key by default, S3 access-log targets "
               "with SSE-S3 as S3 requires (Checkov CKV_AWS_145).", _kms),
    resource_rule("s3-bucket-policy-not-public",
                  "S3 bucket policies allow no unconditioned '*' principal (Checkov CKV_AWS_70).",
                  [BUCKET_POLICY], _not_public),
    resource_rule("s3-acls-disabled",
                  "S3 buckets enforce bucket-owner object ownership, so ACLs are off (Checkov CKV2_AWS_65).",
                  [OWNERSHIP], _acls_disabled),
    resource_rule("s3-lifecycle-aborts-incomplete-uploads",
                  "S3 lifecycle configurations abort incomplete multipart uploads (Checkov CKV_AWS_300).",
                  list(LIFECYCLE), _aborts_uploads),
    stack_rule("s3-access-logged",
               "Every S3 bucket except a log bucket has server access logs or CloudTrail data events "
               "(Checkov CKV_AWS_18; Pulumi AWSGuard s3-bucket-logging-enabled).",
               _access_logged),
    resource_rule("s3-tls-only",
                  "S3 bucket policies deny requests without TLS (AWS Security Hub control S3.5).",
                  [BUCKET_POLICY], _tls_only),
    stack_rule("s3-bucket-guardrails-present",
               "Every S3 bucket has a public access block, versioning, KMS encryption, a TLS-only policy, ownership "
               "controls and a lifecycle (Checkov CKV2_AWS_6, CKV_AWS_21, CKV_AWS_145, CKV2_AWS_61, AWS Security Hub S3.5).",
               _companions),
]
