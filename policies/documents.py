"""Reading IAM and resource policy documents: who a statement admits, and whether its condition
narrows anything. Shared by the IAM, KMS, S3, SNS and ECR rules so "open to everyone" and "a
condition that restricts nothing" mean the same thing in every rule.

IAM evaluation: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
Condition keys are case-insensitive; operator names are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.props import as_list
from policies.rules import json_document, statements

# Keys that pin an open principal ("*") to an account, organization, role, source or network path:
# what AWS documents for granting to a service or an organization without naming each principal
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html). Checkov's
# CKV_AWS_70 accepts the same family.
PINNING_KEYS = frozenset(k.lower() for k in (
    "aws:PrincipalAccount", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalArn",
    "aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner", "aws:SourceOrgID", "aws:SourceOrgPaths",
    "aws:SourceVpce", "aws:SourceVpc", "aws:VpceAccount", "kms:CallerAccount",
))
# Keys describing the caller, the transport, the time or the network, never which resource a
# request touches: in a role's own policy they cannot narrow a '*' resource to what the stack owns.
CONTEXT_KEYS = frozenset(k.lower() for k in (
    "aws:SecureTransport", "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:CurrentTime",
    "aws:EpochTime", "aws:SourceIp", "aws:VpcSourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:UserAgent",
    "aws:Referer", "aws:userid", "aws:username", "aws:TokenIssueTime", "aws:ViaAWSService", "aws:CalledVia",
    "aws:CalledViaFirst", "aws:CalledViaLast", "aws:RequestedRegion", "aws:SourceIdentity",
    "aws:FederatedProvider", "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths", "aws:PrincipalType", "aws:PrincipalIsAWSService", "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList", "aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner",
    "aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4",
))
# Operators that only narrow when the key is present: "...IfExists" passes a request without the key,
# and "ForAllValues:" passes one whose key is empty or missing.
_POSITIVE = ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike")


def _is_wildcard(value: Any) -> bool:
    """'*', '?*' and the like: a pattern that matches anything; or an ARN whose account or resource is
    one ("arn:aws:iam::*:role/x", "arn:aws:s3:::*"). An empty account is no wildcard: S3 ARNs have none."""
    text = str(value)
    if not text.strip("*?"):
        return True
    parts = text.split(":", 5)
    if not text.startswith("arn:") or len(parts) < 6:
        return False
    return (parts[4] != "" and not parts[4].strip("*?")) or not parts[5].strip("*?")


def principal_is_open(principal: Any) -> bool:
    """A Principal of "*" or {"AWS": "*"} (any form listing "*"): every AWS identity, anonymous included."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(value) for value in principal.values())
    return False


def _entries(condition: Any):
    """(operator, key, values) of every test in a Condition block."""
    if not isinstance(condition, Mapping):
        return
    for operator, tests in condition.items():
        if isinstance(tests, Mapping):
            for key, values in tests.items():
                yield str(operator), str(key), as_list(values)


def _narrows(operator: str, values: list[Any]) -> bool:
    """Whether one test can refuse a request that carries its key: a positive operator (ForAnyValue:
    allowed), never IfExists nor ForAllValues:, with at least one value that is not a wildcard."""
    base = operator.removeprefix("ForAnyValue:")
    if base not in _POSITIVE:
        return False
    return any(not _is_wildcard(v) for v in values) if values else False


def pins_principal(condition: Any) -> bool:
    """Whether a condition pins an open principal to an account, organization, ARN or network path."""
    return any(key.lower() in PINNING_KEYS and _narrows(op, values) for op, key, values in _entries(condition))


def restricts_resources(condition: Any) -> bool:
    """Whether a condition narrows which resources or requests a '*' statement reaches: some test on a
    resource or request key (aws:ResourceTag/..., <service>:ResourceTag/..., aws:RequestTag/...,
    cloudwatch:namespace, iam:AWSServiceName ...) that can refuse a request. A tag-presence test
    {"Null": {"aws:ResourceTag/<key>": "false"}} counts: only resources carrying the tag match."""
    for operator, key, values in _entries(condition):
        if key.lower() in CONTEXT_KEYS:
            continue
        if operator == "Null":
            if [str(v).lower() for v in values] == ["false"]:
                return True
            continue
        if _narrows(operator, values):
            return True
    return False


def open_statements(policy: Any) -> list[Mapping[str, Any]]:
    """The Allow statements of a resource policy (a JSON string or a mapping) that admit everyone:
    Principal '*' with no condition pinning it, or any NotPrincipal (which admits all but the listed)."""
    found = []
    for statement in statements(json_document(policy)):
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("NotPrincipal") is not None:
            found.append(statement)
        elif principal_is_open(statement.get("Principal")) and not pins_principal(statement.get("Condition")):
            found.append(statement)
    return found


def sid(statement: Mapping[str, Any]) -> str:
    """How a message names a statement."""
    return repr(statement.get("Sid", "(no Sid)"))
