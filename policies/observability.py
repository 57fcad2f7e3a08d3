"""CloudWatch Logs, SNS and CloudTrail rules: what the stack records is kept, encrypted and private."""

from __future__ import annotations

from policies.documents import open_statements, sid
from policies.rules import resource_rule, setting, truthy

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TRAIL = "aws:cloudtrail/trail:Trail"

RETENTION_CONFIG = {
    "minRetentionDays": {"type": "integer", "default": 7, "description": "Shortest retention a log group may have"},
}
LOG_KMS_CONFIG = {
    "required": {"type": "boolean", "default": True, "description": "Whether every log group needs a KMS key"},
}


def _retention(props, args):
    days = props.get("retentionInDays")
    minimum = setting(args, RETENTION_CONFIG, "minRetentionDays")
    if not days:
        yield f"set retentionInDays (at least {minimum}): without it CloudWatch keeps (and bills) the logs forever"
    elif float(days) < minimum:
        yield f"retentionInDays is {int(float(days))}: keep logs at least {minimum} days"


def _log_kms(props, args):
    if setting(args, LOG_KMS_CONFIG, "required") and not props.get("kmsKeyId"):
        yield "set kmsKeyId to a stack key whose policy lets CloudWatch Logs use it for this log group"


def _topic_encrypted(props, _args):
    if not props.get("kmsMasterKeyId"):
        yield ("set kmsMasterKeyId to a customer managed key (alarm publishers such as CloudWatch need "
               "kms:GenerateDataKey* and kms:Decrypt in its policy)")


def _topic_policy_private(props, _args):
    for statement in open_statements(props.get("policy")):
        yield (f"topic policy statement {sid(statement)} admits any principal: name the publishing service with an "
               "aws:SourceArn/aws:SourceAccount condition, or the roles")


def _trail(props, _args):
    if not props.get("kmsKeyId"):
        yield "set kmsKeyId to a customer managed key: trail files say who read and wrote which model version"
    if not truthy(props.get("enableLogFileValidation")):
        yield "set enableLogFileValidation = true so a changed or deleted trail file is detectable (digest files)"
    if props.get("enableLogging") is False:
        yield "enableLogging is false: the trail records nothing; set it true"


RULES = [
    resource_rule("log-group-retention",
                  "CloudWatch log groups have a retention period (Checkov CKV_AWS_66).",
                  [LOG_GROUP], _retention, config=RETENTION_CONFIG),
    resource_rule("log-group-kms",
                  "CloudWatch log groups are encrypted with a KMS key where the policy config asks for it (Checkov CKV_AWS_158).",
                  [LOG_GROUP], _log_kms, config=LOG_KMS_CONFIG),
    resource_rule("sns-topic-encrypted", "SNS topics are encrypted with a KMS key (Checkov CKV_AWS_26).",
                  [TOPIC], _topic_encrypted),
    resource_rule("sns-topic-policy-not-public",
                  "SNS topic policies admit no unconditioned '*' principal (Checkov CKV_AWS_169).",
                  [TOPIC_POLICY], _topic_policy_private),
    resource_rule("cloudtrail-encrypted-and-validated",
                  "CloudTrail trails log, are encrypted with a KMS key and validate their files "
                  "(Checkov CKV_AWS_35, CKV_AWS_36, CKV_AWS_251).",
                  [TRAIL], _trail),
]
