"""VPC flow logs: every accepted and rejected flow of the VPC into a CloudWatch log group named
from the stack, encrypted with a key of its own, written by a role only VPC flow logs of this
account may assume (Checkov CKV2_AWS_11, CKV_AWS_158)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.kms import cloudwatch_logs, encryption_key


def declare_flow_logs(name: str, *, cluster_name: str, region: str, retention_days: int, protect: bool,
                      vpc: aws.ec2.Vpc, parent: pulumi.Resource) -> None:
    """All of the VPC's traffic (accepted and rejected) to a CloudWatch log group, children of `parent`.
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-cwl.html"""
    child = pulumi.ResourceOptions(parent=parent)
    # Named after the cluster (stack-derived), never the component: dev and prod may share
    # an account and region, where log group names are unique.
    log_group_name = f"/aws/vpc/{cluster_name}/flow-logs"
    # A key of its own (CKV_AWS_158): flow logs show every peer the VPC talks to.
    key = encryption_key(
        f"{name}-flow-logs-key",
        description=f"Encrypts the VPC flow logs of {cluster_name}",
        alias=f"alias/vpc/{cluster_name}/flow-logs",
        name_tag=f"{cluster_name}-flow-logs",
        uses=[cloudwatch_logs(log_group_names=[log_group_name])],
        parent=parent,
        protect=protect,
    )
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-flow-logs",
        name=log_group_name,
        kms_key_id=key.arn,
        retention_in_days=retention_days,
        tags={"Name": f"{name}-flow-logs"},
        # Fixed name: a replacement (e.g. a new log group class) must delete the old group first.
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True, protect=protect),
    )

    # The account and partition come from the log group's ARN
    # ("arn:<partition>:logs:<region>:<account>:log-group:<name>") rather than from a
    # data-source call: same values, one less lookup at plan time.
    arn_fields = log_group.arn.apply(lambda arn: arn.split(":"))
    partition, account_id = arn_fields[1], arn_fields[4]
    trust_policy = pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": pulumi.Output.concat(
                    "arn:", partition, ":ec2:", region, ":", account_id, ":vpc-flow-log/*",
                )},
            },
        }],
    })
    role = aws.iam.Role(
        f"{name}-flow-logs-role",
        description=f"Lets VPC flow logs of {name} write to their CloudWatch log group",
        assume_role_policy=trust_policy,
        tags={"Name": f"{name}-flow-logs-role"},
        opts=child,
    )
    # The actions from the AWS doc above, scoped to this log group and its streams
    # (the group exists already, so no logs:CreateLogGroup).
    aws.iam.RolePolicy(
        f"{name}-flow-logs-write",
        role=role.id,
        policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [log_group.arn, pulumi.Output.concat(log_group.arn, ":*")],
                },
                {
                    # DescribeLogGroups cannot be scoped to one group.
                    "Effect": "Allow",
                    "Action": "logs:DescribeLogGroups",
                    "Resource": "*",
                },
            ],
        }),
        opts=child,
    )
    aws.ec2.FlowLog(
        f"{name}-flow-log",
        vpc_id=vpc.id,
        traffic_type="ALL",
        log_destination_type="cloud-watch-logs",
        log_destination=log_group.arn,
        iam_role_arn=role.arn,
        tags={"Name": f"{name}-flow-log"},
        opts=child,
    )
