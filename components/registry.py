"""The ECR repository the serving image is pushed to, encrypted with its own KMS key.

Tags are IMMUTABLE so a release tag (`v1.4.0`) always names the same image digest: a
rollback redeploys exactly what was tested. Images are scanned on push. A lifecycle policy
keeps the repository from growing forever: untagged images (left behind by failed or
superseded pushes) expire after a few days, and only the last N release tags are kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.kms import encryption_key, via_service

# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html#ECR-CreateRepository-request-repositoryName
_REPOSITORY_NAME = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
# A Docker tag: https://docs.docker.com/reference/cli/docker/image/tag/#description
_TAG_PREFIX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    """What differs between the registries of two stacks."""

    repository_name: str
    """ECR repository name, e.g. "mlserve-dev/serving-app". Lowercase, 2-256 characters,
    "/"-separated path segments."""

    force_delete: bool = False
    """Default False. Only dev sets True: lets `pulumi destroy` delete a repository that still
    holds images. In prod a destroy must fail rather than lose the images a rollback needs."""

    keep_release_tags: int = 10
    """Default 10, at least 1. How many images tagged with `release_tag_prefix` are kept; older
    ones expire."""

    untagged_expiry_days: int = 3
    """Default 3, at least 1. Days after which an untagged image expires."""

    protect: bool = False
    """Default False. Sets Pulumi's `protect` on the repository and its key: `pulumi destroy`
    stops before deleting the images a rollback needs. Cannot be combined with `force_delete`."""

    registry_scanning_filter: str | None = None
    """Default None (leave the account's registry scanning alone). A repository filter such as
    "mlserve-*": this stack then owns the account-wide, per-region registry scanning
    configuration and scans every repository matching it on push. Only one stack per account and
    region may set it (two would overwrite each other's configuration on every `pulumi up`)."""

    release_tag_prefix: str = "v"
    """Default "v". Tags starting with it are releases (`v1.4.0`). Images with other tags are
    matched by neither lifecycle rule and are kept."""

    def __post_init__(self) -> None:
        if not (2 <= len(self.repository_name) <= 256 and _REPOSITORY_NAME.fullmatch(self.repository_name)):
            raise ValueError(
                f"repository_name {self.repository_name!r} is not a valid ECR repository name "
                "(lowercase letters, digits, '.', '_', '-' between them, '/' between path segments, 2-256 characters)"
            )
        if self.keep_release_tags < 1:
            raise ValueError(f"keep_release_tags must be at least 1, got {self.keep_release_tags}")
        if self.untagged_expiry_days < 1:
            raise ValueError(f"untagged_expiry_days must be at least 1, got {self.untagged_expiry_days}")
        if self.protect and self.force_delete:
            raise ValueError("force_delete cannot be combined with protect: a protected repository keeps its images")
        if self.registry_scanning_filter is not None and not re.fullmatch(r"[a-z0-9*][a-z0-9._/*-]{0,255}", self.registry_scanning_filter):
            raise ValueError(
                f"registry_scanning_filter {self.registry_scanning_filter!r} is not an ECR repository filter "
                "(lowercase repository name characters and '*' wildcards, e.g. 'mlserve-*')"
            )
        if not _TAG_PREFIX.fullmatch(self.release_tag_prefix):
            raise ValueError(
                f"release_tag_prefix {self.release_tag_prefix!r} is not a valid image tag prefix "
                "(letters, digits, '_', '.', '-'; not starting with '.' or '-')"
            )


def lifecycle_policy(*, untagged_expiry_days: int, keep_release_tags: int, release_tag_prefix: str) -> str:
    """The ECR lifecycle policy document, as JSON.

    Rule 1 expires untagged images `untagged_expiry_days` after their push; rule 2 keeps the
    `keep_release_tags` most recent images with a tag starting with `release_tag_prefix`.
    Syntax: https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html
    """
    rules = [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images {untagged_expiry_days} days after push",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": untagged_expiry_days,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"Keep the last {keep_release_tags} release images (tags '{release_tag_prefix}*')",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [release_tag_prefix],
                "countType": "imageCountMoreThan",
                "countNumber": keep_release_tags,
            },
            "action": {"type": "expire"},
        },
    ]
    return json.dumps({"rules": rules}, indent=2)


class Registry(pulumi.ComponentResource):
    """An ECR repository with scan on push, immutable tags, its own KMS key and a lifecycle policy."""

    repository_url: pulumi.Output[str]
    """Where images are pushed and pulled: "<account>.dkr.ecr.<region>.amazonaws.com/<name>"."""

    repository_arn: pulumi.Output[str]
    """ARN of the repository, for IAM policies that grant push or pull."""

    repository_name: pulumi.Output[str]
    """Name of the repository."""

    kms_key_arn: pulumi.Output[str]
    """ARN of the KMS key encrypting the images; pullers outside the account need kms:Decrypt on it."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:registry:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # A key of its own (rather than the AWS-managed aws/ecr key) so access to the images can
        # be granted or revoked in one key policy and its use shows up per repository in CloudTrail.
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html
        key = encryption_key(
            f"{name}-key",
            description=f"Encrypts images in ECR repository {args.repository_name}",
            # Alias names allow letters, digits, "/", "_" and "-", but not the "." repository names may hold.
            # https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html#KMS-CreateAlias-request-AliasName
            alias=f"alias/ecr/{args.repository_name.replace('.', '-')}",
            name_tag=f"{name}-key",
            # Only ECR, on behalf of principals of this account, uses the key: pushes and pulls
            # go through ECR's own grants. https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html
            uses=[via_service("ecr")],
            parent=self,
            protect=args.protect,
        )

        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            # Repository-level scan on push is being deprecated for registry-level scanning (below,
            # for the stack that owns it); kept so a stack that does not own it is still scanned.
            # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning.html
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            # Encryption settings cannot change after creation: changing them replaces the repository.
            # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_EncryptionConfiguration.html
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=key.arn),
            ],
            force_delete=args.force_delete,
            tags={"Name": args.repository_name},
            # The name is fixed: a replacement (new encryption key) must delete the old one first
            # or fail with "already exists".
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, delete_before_replace=True),
        )

        if args.registry_scanning_filter is not None:
            # One configuration per account and region (registry scanning is not per repository):
            # only the stack given `registry_scanning_filter` declares it. BASIC scanning on push
            # (free; ENHANCED needs Amazon Inspector).
            # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html
            aws.ecr.RegistryScanningConfiguration(
                f"{name}-registry-scanning",
                scan_type="BASIC",
                rules=[aws.ecr.RegistryScanningConfigurationRuleArgs(
                    scan_frequency="SCAN_ON_PUSH",
                    repository_filters=[aws.ecr.RegistryScanningConfigurationRuleRepositoryFilterArgs(
                        filter=args.registry_scanning_filter, filter_type="WILDCARD",
                    )],
                )],
                opts=child,
            )

        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(
                untagged_expiry_days=args.untagged_expiry_days,
                keep_release_tags=args.keep_release_tags,
                release_tag_prefix=args.release_tag_prefix,
            ),
            opts=child,
        )

        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.repository_name = repository.name
        self.kms_key_arn = key.arn
        self.register_outputs(
            {
                "repository_url": self.repository_url,
                "repository_arn": self.repository_arn,
                "repository_name": self.repository_name,
                "kms_key_arn": self.kms_key_arn,
            }
        )
