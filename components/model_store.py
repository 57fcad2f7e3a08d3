"""The model store: one S3 bucket per stack holding every model version the serving targets load.

A version lives under `models/<name>/<version>/` (`components/model_store_layout.py`) and is
immutable: `python -m mlserve.models publish` refuses to overwrite one, and versions the stack
uploads from a local directory (dev) are named by the sha256 of their files. The bucket:
  - is encrypted with a KMS key of its own (SSE-KMS with S3 Bucket Keys), used only through S3;
  - keeps every object version (versioning), expiring replaced ones after
    `noncurrent_version_expiry_days`, so a deleted or overwritten version can be recovered;
  - blocks all public access, disables ACLs (object ownership enforced), and its policy denies
    requests without TLS and puts asking for other encryption than SSE-KMS with the store key;
  - records who read or wrote what (S3 access logs or a CloudTrail trail, `model_store_logs.py`).
Its name carries the stack, the account and the region, so two stacks or accounts never collide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pulumi
import pulumi_aws as aws

from components import model_store_layout as layout
from components.kms import encryption_key, service_principal, via_service
from components.model_store_logs import declare_access_record
from components.private_bucket import private_bucket

TRACKS = ("stable", "canary")
"""The serving tracks a store resolves a version for."""
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_STACK = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
_CONTENT_TYPES = {".json": "application/json", ".gz": "application/gzip"}


@dataclass(frozen=True, kw_only=True)
class TrackModel:
    """The model version one track serves."""

    name: str
    """Model name, e.g. "fraud-model" (lower-case letters, digits, '-')."""
    version: str
    """Store version, e.g. "3" or "local-3f2a9c1b7e04"."""
    upload_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Default empty: the version is already in the store (published). Otherwise {key under the
    version prefix: local file} the stack uploads (a local artifact directory, dev); it must hold
    `metadata.json` and `model.tar.gz`."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"TrackModel.name {self.name!r}: lower-case letters, digits and '-', 1-63 characters")
        if not _VERSION.fullmatch(self.version):
            raise ValueError(f"TrackModel.version {self.version!r}: letters, digits, '.', '_', '-', 1-64 characters")
        missing = {"metadata.json", layout.SAGEMAKER_ARCHIVE} - set(self.upload_files)
        if self.upload_files and missing:
            raise ValueError(f"TrackModel.upload_files of {self.name}/{self.version} lacks {sorted(missing)}")


@dataclass(frozen=True, kw_only=True)
class ModelStoreArgs:
    """What differs between the model stores of two stacks."""

    stack: str
    """The stack ("dev"): part of every physical name."""
    region: str
    """The AWS region of the bucket (the AWS provider's), part of its name."""
    tracks: Mapping[str, TrackModel]
    """{"stable": ..., optionally "canary": ...}: the versions the serving targets load."""
    noncurrent_version_expiry_days: int = 90
    """Default 90, 1-3650. Days a replaced or deleted object version is kept."""
    access_logging: str = "s3-access-logs"
    """Default "s3-access-logs"; or "cloudtrail" (object-level data events in a trail)."""
    log_retention_days: int = 365
    """Default 365, 1-3650. Days the log bucket keeps access logs or trail files."""
    force_destroy: bool = False
    """Default False. Lets `pulumi destroy` delete buckets that still hold objects (dev only).
    Cannot be combined with `protect`."""
    protect: bool = False
    """Default False. Pulumi `protect` on the buckets, the key and the trail."""

    def __post_init__(self) -> None:
        if not _STACK.fullmatch(self.stack):
            raise ValueError(f"ModelStoreArgs.stack {self.stack!r}: lower-case letters, digits and '-'")
        layout.bucket_name(self.stack, "0" * 12, self.region)  # raises over 63 characters
        layout.log_bucket_name(self.stack, "0" * 12, self.region)
        if "stable" not in self.tracks or set(self.tracks) - set(TRACKS):
            raise ValueError(f"ModelStoreArgs.tracks {sorted(self.tracks)}: 'stable' and optionally 'canary'")
        if not 1 <= self.noncurrent_version_expiry_days <= 3650:
            raise ValueError(f"noncurrent_version_expiry_days {self.noncurrent_version_expiry_days}: 1-3650")
        if not 1 <= self.log_retention_days <= 3650:
            raise ValueError(f"log_retention_days {self.log_retention_days}: 1-3650")
        if self.access_logging not in ("s3-access-logs", "cloudtrail"):
            raise ValueError(f"access_logging {self.access_logging!r}: 's3-access-logs' or 'cloudtrail'")
        if self.force_destroy and self.protect:
            raise ValueError("force_destroy cannot be combined with protect: a protected store keeps its versions")


def encryption_statements(bucket_arn: str, key_arn: str) -> list[dict[str, Any]]:
    """Puts may not ask for any encryption but SSE-KMS with the store's key.

    S3 encrypts every new object since 2023-01-05, and this bucket's default is SSE-KMS with the
    store key, so a put without encryption headers is encrypted with it; what a policy must still
    stop is a put *naming* SSE-S3, DSSE or another key. `...IfExists` keeps header-less requests
    allowed on purpose: UploadPart (multipart uploads, used by the AWS CLI and SDK transfer
    managers above a few MB) never carries the headers, and a plain `StringNotEquals` would deny
    every part. Both writers here (the tool, the stack's uploads) send the headers anyway.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms"""
    objects = f"{bucket_arn}/*"
    return [
        {"Sid": "DenyPutsWithOtherEncryption", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": objects,
         "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
        {"Sid": "DenyPutsWithOtherKeys", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": objects,
         "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}}},
    ]


class ModelStore(pulumi.ComponentResource):
    """The stack's model store bucket, its key, its access record and the resolved versions."""

    bucket_name: pulumi.Output[str]
    """"mlserve-<stack>-models-<account>-<region>"."""
    bucket_arn: pulumi.Output[str]
    """"arn:aws:s3:::<bucket>", for IAM policies."""
    kms_key_arn: pulumi.Output[str]
    """The store's key: readers need kms:Decrypt on it (through S3) besides s3:GetObject."""
    model_uris: dict[str, pulumi.Output[str]]
    """Per track: "s3://<bucket>/models/<name>/<version>/", the server's `--model` (EKS)."""
    archive_uris: dict[str, pulumi.Output[str]]
    """Per track: ".../model.tar.gz", SageMaker's ModelDataUrl."""
    read_arns: dict[str, pulumi.Output[str]]
    """Per track: "arn:aws:s3:::<bucket>/models/<name>/<version>/*", the objects a reader may get."""
    versions: dict[str, tuple[str, str]]
    """Per track: (name, version) as the store holds it, known at plan time ("local-<digest>" for an
    uploaded directory): what the serving targets label their workloads with."""

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:models:ModelStore", name, None, opts)
        self._stack = args.stack
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        bucket_name = account.apply(lambda a: layout.bucket_name(args.stack, a, args.region))
        trail_name = layout.trail_name(args.stack)
        trail_arn = pulumi.Output.concat(
            "arn:", aws.get_partition_output(opts=invoke).partition, ":cloudtrail:", args.region, ":", account,
            ":trail/", trail_name,
        )

        # A key of its own: who may read model versions is then one key policy plus IAM, and
        # its use shows per request in CloudTrail. Only S3 uses it for principals of the account
        # (serving roles still need kms:Decrypt in their IAM policy); with the trail, CloudTrail
        # encrypts that trail's files with it.
        uses = [via_service("s3")]
        if args.access_logging == "cloudtrail":
            # https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
            uses.append(service_principal(
                "CloudTrailEncryptsTrailFiles", "cloudtrail.amazonaws.com",
                actions=("kms:GenerateDataKey*", "kms:DescribeKey"),
                source_arn=f"arn:{{partition}}:cloudtrail:{{region}}:{{account}}:trail/{trail_name}",
            ))
        key = encryption_key(
            f"{name}-key",
            description=f"Encrypts the model versions of stack {args.stack}",
            alias=f"alias/mlserve-{args.stack}/model-store",
            name_tag=f"{name}-key",
            uses=uses,
            parent=self,
            protect=args.protect,
        )
        store = private_bucket(
            f"{name}-bucket",
            bucket_name=bucket_name,
            encryption=aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=key.arn,
                ),
                # One data key per bucket instead of a KMS call per object: fewer calls, lower cost.
                # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
                bucket_key_enabled=True,
            ),
            lifecycle_rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_expiry_days
                    ),
                    # Delete markers left once their versions expired, and uploads never completed.
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                ),
            ],
            extra_statements=lambda bucket_arn: key.arn.apply(lambda key_arn: encryption_statements(bucket_arn, key_arn)),
            force_destroy=args.force_destroy,
            protect=args.protect,
            parent=self,
        )
        declare_access_record(
            name,
            mode=args.access_logging,
            store_bucket=store.bucket,
            log_bucket_name=account.apply(lambda a: layout.log_bucket_name(args.stack, a, args.region)),
            trail_name=trail_name,
            trail_arn=trail_arn,
            kms_key_arn=key.arn,
            account=account,
            retention_days=args.log_retention_days,
            force_destroy=args.force_destroy,
            protect=args.protect,
            parent=self,
        )

        bucket = store.bucket.bucket
        uploaded: dict[tuple[str, str], list[pulumi.Resource]] = {}
        self.model_uris, self.archive_uris, self.read_arns = {}, {}, {}
        self.versions = {track: (model.name, model.version) for track, model in args.tracks.items()}
        for track, model in args.tracks.items():
            if model.upload_files and (model.name, model.version) not in uploaded:
                uploaded[(model.name, model.version)] = self._upload(name, model, store, key)
            marker = [obj.id for obj in uploaded.get((model.name, model.version), [])[-1:]]
            # The URIs wait for the upload (metadata.json, written last), so a serving target
            # never starts on a half-uploaded version.
            self.model_uris[track] = pulumi.Output.all(bucket, *marker).apply(
                lambda v, m=model: layout.model_uri(v[0], m.name, m.version))
            self.archive_uris[track] = pulumi.Output.all(bucket, *marker).apply(
                lambda v, m=model: layout.archive_uri(v[0], m.name, m.version))
            self.read_arns[track] = store.bucket.arn.apply(lambda arn, m=model: layout.prefix_arn(arn, m.name, m.version))

        self.bucket_name = bucket
        self.bucket_arn = store.bucket.arn
        self.kms_key_arn = key.arn
        self.register_outputs({
            "bucket_name": self.bucket_name,
            "bucket_arn": self.bucket_arn,
            "kms_key_arn": self.kms_key_arn,
            **{f"model_uri_{track}": uri for track, uri in self.model_uris.items()},
            **{f"archive_uri_{track}": uri for track, uri in self.archive_uris.items()},
        })

    def _upload(self, name: str, model: TrackModel, store, key: aws.kms.Key) -> list[pulumi.Resource]:
        """One object per file, encrypted with the store key and checked by S3 against a SHA-256
        the provider computes; `metadata.json` last, after every other file of the version."""
        prefix = layout.version_prefix(model.name, model.version)
        keys = sorted(model.upload_files, key=lambda k: k == "metadata.json")
        objects: list[pulumi.Resource] = []
        for relative in keys:
            depends = list(store.configured) + (objects if relative == "metadata.json" else [])
            objects.append(aws.s3.BucketObjectv2(
                f"{name}-{model.name}-{model.version}-{relative.replace('/', '-')}",
                bucket=store.bucket.id,
                key=prefix + relative,
                source=pulumi.FileAsset(model.upload_files[relative]),
                content_type=_CONTENT_TYPES.get(_suffix(relative), "application/octet-stream"),
                server_side_encryption="aws:kms",
                kms_key_id=key.arn,
                bucket_key_enabled=True,
                checksum_algorithm="SHA256",
                # What `python -m mlserve.models list` shows as the publisher.
                metadata={"published-by": f"pulumi stack {self._stack}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
            ))
        return objects


def _suffix(key: str) -> str:
    """".json" for "metadata.json", ".gz" for "model.tar.gz"."""
    return "." + key.rsplit(".", 1)[-1] if "." in key else ""
