"""Customer managed KMS keys with explicit key policies: the one way this project makes keys.

Every key gets the same shape (terraform-aws-modules/kms and /eks write theirs alike):
  - the account root may *administer* the key (so IAM can never be locked out of it), but not
    use it: no blanket "any principal of the account with IAM permissions may decrypt", which is
    what the default key policy allows (Checkov CKV2_AWS_64);
  - each use is a statement of its own (`KeyUse`): a service used on the account's behalf
    (`via_service`, condition kms:ViaService), a service principal writing with its own identity
    (`cloudwatch_logs`, `service_principal`, conditioned on the encryption context or the source
    account), or a named role (`role_use`);
  - yearly rotation and the longest deletion window.
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html

Strings in a `KeyUse` may hold the placeholders "{account}", "{partition}" and "{region}";
`encryption_key` fills them from the key's own provider (caller identity, partition, region), so
callers never thread the account id or region through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pulumi
import pulumi_aws as aws

# Administration without use: every kms: action except Encrypt/Decrypt/ReEncrypt/GenerateDataKey*.
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-administrators
ADMIN_ACTIONS = (
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
)
# What a service needs to encrypt and decrypt data keys for its resources.
USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")
ACCOUNT_ROOT = "arn:{partition}:iam::{account}:root"


@dataclass(frozen=True)
class KeyUse:
    """One key-policy statement: who may use the key, for what, under which conditions."""

    sid: str
    """Statement id: letters and digits only (KMS rejects others)."""
    principal: Mapping[str, Any]
    """{"Service": "logs.us-west-2.amazonaws.com"} or {"AWS": <role ARN>}; values may be Inputs."""
    actions: tuple[str, ...] = USE_ACTIONS
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.sid.isalnum():
            raise ValueError(f"KeyUse.sid {self.sid!r}: letters and digits only")
        if not self.actions or any(not a.startswith("kms:") for a in self.actions):
            raise ValueError(f"KeyUse.actions {self.actions!r}: one or more kms: actions")
        if any(action in ("kms:*", "kms:PutKeyPolicy") for action in self.actions):
            raise ValueError(f"KeyUse.actions {self.actions!r}: administration belongs to the account root statement")


def via_service(service: str, *, actions: Sequence[str] = (*USE_ACTIONS, "kms:CreateGrant")) -> KeyUse:
    """Principals of this account may use the key, but only through `service` (e.g. "ecr",
    "s3", "eks") in the key's region: the condition AWS managed keys use.
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service"""
    return KeyUse(
        sid=f"UseThrough{service.title().replace('-', '')}",
        principal={"AWS": ACCOUNT_ROOT},
        actions=tuple(actions),
        conditions={"StringEquals": {"kms:ViaService": f"{service}.{{region}}.amazonaws.com", "kms:CallerAccount": "{account}"}},
    )


def cloudwatch_logs(*, log_group_names: Sequence[str]) -> KeyUse:
    """CloudWatch Logs may encrypt and decrypt these log groups (names or `*` patterns) only:
    the service principal of the region, conditioned on the log group in the encryption context.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"""
    if not log_group_names:
        raise ValueError("cloudwatch_logs: log_group_names must name at least one log group")
    return KeyUse(
        sid="CloudWatchLogs",
        principal={"Service": "logs.{region}.amazonaws.com"},
        actions=("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
        conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": [
            f"arn:{{partition}}:logs:{{region}}:{{account}}:log-group:{log_group}" for log_group in log_group_names
        ]}},
    )


def service_principal(sid: str, service: str, *, actions: Sequence[str], source_arn: str | None = None) -> KeyUse:
    """An AWS service acting as itself (e.g. "cloudwatch.amazonaws.com" publishing alarms to an
    encrypted topic), limited to this account and, when given, to a source ARN pattern."""
    conditions: dict[str, dict[str, Any]] = {"StringEquals": {"aws:SourceAccount": "{account}"}}
    if source_arn:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    return KeyUse(sid=sid, principal={"Service": service}, actions=tuple(actions), conditions=conditions)


def role_use(sid: str, role_arn: pulumi.Input[str], *, actions: Sequence[str] = USE_ACTIONS) -> KeyUse:
    """One IAM role may use the key directly (e.g. the EKS cluster role for secrets)."""
    return KeyUse(sid=sid, principal={"AWS": role_arn}, actions=tuple(actions))


def key_policy_document(uses: Sequence[KeyUse], *, account: str, partition: str, region: str, resolved: Mapping[int, Any] | None = None) -> dict[str, Any]:
    """The key policy as a plain dict: the root administration statement, then one per use.
    `resolved` holds the principals of `uses` by index once their Inputs have resolved."""
    sids = [use.sid for use in uses]
    if len(set(sids)) != len(sids) or "KeyAdministration" in sids:
        raise ValueError(f"key uses need distinct sids other than KeyAdministration, got {sids}")

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{account}", account).replace("{partition}", partition).replace("{region}", region)
        if isinstance(value, Mapping):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [fill(v) for v in value]
        return value

    statements = [{"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": fill(ACCOUNT_ROOT)},
                   "Action": list(ADMIN_ACTIONS), "Resource": "*"}]
    for index, use in enumerate(uses):
        statement = {"Sid": use.sid, "Effect": "Allow",
                     "Principal": fill((resolved or {}).get(index, use.principal)),
                     "Action": list(use.actions), "Resource": "*"}
        if use.conditions:
            statement["Condition"] = fill(use.conditions)
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def encryption_key(
    name: str, *, description: str, alias: str, name_tag: str, uses: Sequence[KeyUse], parent: pulumi.Resource,
    protect: bool = False,
) -> aws.kms.Key:
    """A symmetric KMS key with an explicit policy (`uses`), yearly rotation and the longest
    deletion window, plus an alias.

    `name` names the key resource and the alias resource "<name>-alias"; `alias` is the alias
    itself ("alias/<stack-derived name>": aliases are unique per account and region); `name_tag`
    is the key's "Name" tag. Callers say why they need a key of their own. `protect` (default
    False) sets Pulumi's `protect` on the key: `pulumi destroy` then refuses to schedule its deletion.
    """
    if not uses:
        raise ValueError(f"{name}: a key needs at least one KeyUse (who may use it); administration alone is useless")
    key_policy_document(uses, account="0", partition="aws", region="r")  # duplicate sids fail before anything is declared
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOptions(parent=parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition
    region = aws.get_region_output(opts=invoke).region
    principals = pulumi.Output.all(*[pulumi.Output.from_input(dict(use.principal)) for use in uses])
    policy = pulumi.Output.all(principals, account, partition, region).apply(
        lambda resolved: json.dumps(key_policy_document(
            uses, account=resolved[1], partition=resolved[2], region=resolved[3], resolved=dict(enumerate(resolved[0])))
        )
    )
    key = aws.kms.Key(
        name,
        description=description,
        policy=policy,
        # https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys.html
        enable_key_rotation=True,
        # The longest window: a key scheduled for deletion by mistake can be recovered for 30
        # days, and once gone everything it encrypted is unreadable.
        # https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html#deleting-keys-scheduling-key-deletion
        deletion_window_in_days=30,
        tags={"Name": name_tag},
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    aws.kms.Alias(f"{name}-alias", name=alias, target_key_id=key.key_id, opts=child)
    return key
