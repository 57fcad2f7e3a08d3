"""ECR rules: what the serving image's repository must guarantee (scan, immutability, KMS, not public)."""

from __future__ import annotations

from policies.documents import open_statements, sid
from policies.rules import as_list, get, resource_rule

REPOSITORY = "aws:ecr/repository:Repository"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"


def _scan_on_push(props, _args):
    if get(props, "imageScanningConfiguration.scanOnPush") is not True:
        yield "set imageScanningConfiguration.scanOnPush = true so every pushed image is scanned for CVEs"


def _immutable_tags(props, _args):
    if props.get("imageTagMutability") not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        yield (f"imageTagMutability is {props.get('imageTagMutability') or 'MUTABLE (default)'}: set IMMUTABLE "
               "so a release tag always names the image that was reviewed")


def _kms(props, _args):
    configs = as_list(props.get("encryptionConfigurations"))
    if not any(get(c, "encryptionType") == "KMS" and get(c, "kmsKey") for c in configs):
        yield "set encryptionConfigurations = [{encryptionType: KMS, kmsKey: <the registry key ARN>}] (AES256 is the default)"


def _no_public_policy(props, _args):
    for statement in open_statements(props.get("policy")):
        yield (f"statement {sid(statement)} allows Principal '*': name the account or role ARNs that may pull, or "
               "add an aws:PrincipalOrgID condition")


RULES = [
    resource_rule("ecr-scan-on-push", "ECR repositories scan images on push (Checkov CKV_AWS_163).",
                  [REPOSITORY], _scan_on_push),
    resource_rule("ecr-immutable-tags", "ECR repositories have immutable tags (Checkov CKV_AWS_51).",
                  [REPOSITORY], _immutable_tags),
    resource_rule("ecr-kms-encryption", "ECR repositories are encrypted with a KMS key (Checkov CKV_AWS_136).",
                  [REPOSITORY], _kms),
    resource_rule("ecr-no-public-policy", "ECR repository policies do not allow everyone (Checkov CKV_AWS_32).",
                  [REPOSITORY_POLICY], _no_public_policy),
]
