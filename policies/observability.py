"""CloudWatch Logs, SNS and VPC flow-log rules."""

from __future__ import annotations

from policies.rules import resource_rule, setting, stack_rule

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"

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


def _flow_logs(args):
    logged = {dep.urn for r in args.resources if r.resource_type == FLOW_LOG for dep in r.dependencies}
    for vpc in args.resources:
        if vpc.resource_type == VPC and vpc.urn not in logged:
            yield f"VPC {vpc.name} has no flow log: declare an aws.ec2.FlowLog (trafficType ALL) for it", vpc.urn


RULES = [
    resource_rule("log-group-retention",
                  "CloudWatch log groups have a retention period (Checkov CKV_AWS_66).",
                  [LOG_GROUP], _retention, config=RETENTION_CONFIG),
    resource_rule("log-group-kms",
                  "CloudWatch log groups are encrypted with a KMS key where the policy config asks for it (Checkov CKV_AWS_158).",
                  [LOG_GROUP], _log_kms, config=LOG_KMS_CONFIG),
    resource_rule("sns-topic-encrypted", "SNS topics are encrypted with a KMS key (Checkov CKV_AWS_26).",
                  [TOPIC], _topic_encrypted),
    stack_rule("vpc-flow-logs-enabled", "Every VPC has flow logs (Checkov CKV2_AWS_11, CIS AWS Foundations 3.9).",
               _flow_logs),
]
