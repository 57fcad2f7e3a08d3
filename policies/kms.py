"""KMS rules: every customer managed key is enabled, rotates, and has a key policy that names who may use it."""

from __future__ import annotations

from policies.documents import open_statements, sid
from policies.rules import json_document, resource_rule, statements, truthy

KEY = "aws:kms/key:Key"
# Automatic rotation exists only for symmetric encryption keys (spec SYMMETRIC_DEFAULT, whose usage is
# always ENCRYPT_DECRYPT); asymmetric and HMAC keys cannot rotate:
# https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
_ROTATABLE_SPEC = "SYMMETRIC_DEFAULT"


def _enabled_and_rotated(props, _args):
    if props.get("isEnabled") is False:
        yield "isEnabled is false: a disabled key cannot decrypt what it encrypted; enable it or remove it"
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or _ROTATABLE_SPEC
    if spec == _ROTATABLE_SPEC and not truthy(props.get("enableKeyRotation")):
        yield "set enableKeyRotation = true (KMS then rotates the key material yearly, old material still decrypts)"


def _policy_scoped(props, _args):
    document = json_document(props.get("policy"))
    if not statements(document):
        yield ("declare the key policy (policy): without one KMS applies its default policy, under which any IAM "
               "policy of the account can grant the key (kms:*)")
        return
    for statement in open_statements(document):
        yield (f"key policy statement {sid(statement)} admits any principal (Principal '*' or NotPrincipal) "
               "without a kms:CallerAccount/aws:PrincipalOrgID condition: name the account root, roles or services")


RULES = [
    resource_rule("kms-key-enabled-and-rotated",
                  "Customer managed KMS keys are enabled and, where KMS can rotate them, rotate yearly "
                  "(Checkov CKV_AWS_7, CKV_AWS_227; Pulumi AWSGuard cmk-backing-key-rotation-enabled).",
                  [KEY], _enabled_and_rotated),
    resource_rule("kms-key-policy-scoped",
                  "Every KMS key has its own key policy, and no statement admits any principal "
                  "(Checkov CKV2_AWS_64, CKV_AWS_33).",
                  [KEY], _policy_scoped),
]
