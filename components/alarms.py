"""The stack's alarms: an encrypted SNS topic with the settings' subscribers, one CloudWatch
alarm per `AlarmSpec` (components/alarm_specs.py), critical ECR scan findings routed to the
topic (EventBridge), and a dashboard. prod pages (alarm actions on); dev records only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.alarm_specs import AlarmSpec
from components.kms import encryption_key, service_principal

SUBSCRIPTION_PROTOCOLS = ("email", "https")


@dataclass(frozen=True, kw_only=True)
class AlarmsArgs:
    """What to watch and who is told."""

    name_prefix: str
    """"mlserve-prod": the topic, every alarm and the dashboard are named from it."""
    specs: tuple[AlarmSpec, ...]
    actions_enabled: bool = False
    """True (prod): alarms notify the topic on ALARM and OK. False (dev): states are recorded only."""
    subscriptions: tuple[tuple[str, str], ...] = ()
    """(protocol, endpoint): ("email", "oncall@example.org") or ("https", "https://events.pagerduty.com/...")."""
    repository_name: str | None = None
    """The ECR repository whose critical scan findings notify the topic; None: no rule."""
    dashboard_body: pulumi.Input[str] | None = None
    """The dashboard's JSON (components/dashboard.py); None: no dashboard."""
    protect: bool = False
    """Pulumi `protect` on the topic's key (prod): destroying it would make queued messages unreadable."""

    def __post_init__(self) -> None:
        suffixes = [spec.suffix for spec in self.specs]
        if len(set(suffixes)) != len(suffixes):
            raise ValueError(f"AlarmsArgs.specs: alarm suffixes repeat: {sorted(s for s in suffixes if suffixes.count(s) > 1)}")
        for protocol, endpoint in self.subscriptions:
            if protocol not in SUBSCRIPTION_PROTOCOLS:
                raise ValueError(f"AlarmsArgs.subscriptions: protocol {protocol!r} not one of {SUBSCRIPTION_PROTOCOLS}")
            if protocol == "https" and not endpoint.startswith("https://"):
                raise ValueError(f"AlarmsArgs.subscriptions: {endpoint!r} is not an https:// URL")


def alarm_name(prefix: str, spec: AlarmSpec) -> str:
    """"mlserve-prod-sagemaker-stable-5xx"."""
    return f"{prefix}-{spec.suffix}"


def scan_finding_pattern(repository_name: str) -> dict:
    """EventBridge pattern: a finished ECR scan of this repository with a CRITICAL finding.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html#ecr-eventbridge-bus"""
    return {"source": ["aws.ecr"], "detail-type": ["ECR Image Scan"],
            "detail": {"repository-name": [repository_name], "scan-status": ["COMPLETE"],
                       "finding-severity-counts": {"CRITICAL": [{"numeric": [">", 0]}]}}}


class Alarms(pulumi.ComponentResource):
    """Topic, alarms, scan-finding rule and dashboard of one stack."""

    topic_arn: pulumi.Output[str]
    """The SNS topic every alarm and finding notifies."""
    alarm_names: dict[str, pulumi.Output[str]]
    """Alarm names by spec suffix, as declared (the SageMaker rollback and `checks gate` read them)."""
    rollback_alarm_names: list[pulumi.Output[str]]
    """The alarms SageMaker deployment guardrails roll back on."""
    dashboard_name: pulumi.Output[str] | None
    """The CloudWatch dashboard, when one was asked for."""

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:alarms:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        topic_name = f"{args.name_prefix}-alarms"
        # CloudWatch and EventBridge publish to an encrypted topic only if the key lets them.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        key = encryption_key(
            f"{name}-key", description=f"Encrypts SNS topic {topic_name}", alias=f"alias/{topic_name}",
            name_tag=f"{name}-key", parent=self, protect=args.protect,
            uses=[service_principal("CloudWatchAlarms", "cloudwatch.amazonaws.com",
                                    actions=("kms:Decrypt", "kms:GenerateDataKey*")),
                  service_principal("EventBridgeRules", "events.amazonaws.com",
                                    actions=("kms:Decrypt", "kms:GenerateDataKey*"))],
        )
        topic = aws.sns.Topic(f"{name}-topic", name=topic_name, kms_master_key_id=key.arn, opts=child)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        aws.sns.TopicPolicy(
            f"{name}-topic-policy", arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, account).apply(lambda v: json.dumps(_topic_policy(v[0], v[1], args.name_prefix))),
            opts=child,
        )
        for index, (protocol, endpoint) in enumerate(args.subscriptions):
            aws.sns.TopicSubscription(f"{name}-subscription-{index}", topic=topic.arn, protocol=protocol,
                                      endpoint=endpoint, opts=child)

        actions = [topic.arn] if args.actions_enabled else []
        self.alarm_names = {}
        self.rollback_alarm_names = []
        for spec in args.specs:
            alarm = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.suffix}", opts=child, **_alarm_inputs(alarm_name(args.name_prefix, spec), spec,
                                                                     actions_enabled=args.actions_enabled, actions=actions))
            self.alarm_names[spec.suffix] = alarm.name
            if spec.rollback:
                self.rollback_alarm_names.append(alarm.name)

        if args.repository_name is not None:
            rule = aws.cloudwatch.EventRule(
                f"{name}-critical-findings", name=f"{args.name_prefix}-critical-image-findings",
                description=f"Critical ECR scan findings in {args.repository_name}",
                event_pattern=json.dumps(scan_finding_pattern(args.repository_name)), opts=child)
            aws.cloudwatch.EventTarget(f"{name}-critical-findings-topic", rule=rule.name, arn=topic.arn, opts=child)

        self.dashboard_name = None
        if args.dashboard_body is not None:
            dashboard = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=args.name_prefix,
                                                 dashboard_body=args.dashboard_body, opts=child)
            self.dashboard_name = dashboard.dashboard_name

        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn, "alarm_names": self.alarm_names,
                               "rollback_alarm_names": self.rollback_alarm_names, "dashboard_name": self.dashboard_name})


def _topic_policy(topic_arn: str, account: str, prefix: str) -> dict:
    """Only this account's alarms and rules named from the stack may publish."""
    partition, region = topic_arn.split(":")[1], topic_arn.split(":")[3]
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "CloudWatchAlarms", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{prefix}-*"}}},
        {"Sid": "EventBridgeRules", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
         "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"ArnLike": {"aws:SourceArn": f"arn:{partition}:events:{region}:{account}:rule/{prefix}-*"}}},
    ]}


def _alarm_inputs(name: str, spec: AlarmSpec, *, actions_enabled: bool, actions: Sequence[pulumi.Input[str]]) -> dict:
    """The MetricAlarm keywords of one spec. Missing data is not breaching: an idle variant is healthy."""
    inputs: dict = dict(
        name=name, alarm_description=spec.description, comparison_operator=spec.comparison,
        threshold=spec.threshold, evaluation_periods=spec.evaluation_periods, datapoints_to_alarm=spec.evaluation_periods,
        treat_missing_data="notBreaching", actions_enabled=actions_enabled,
        alarm_actions=list(actions), ok_actions=list(actions),
    )
    if spec.expression is not None:
        queries = [aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id, return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=namespace, metric_name=metric, dimensions=dict(dims), period=spec.period_s, stat="Sum"))
            for query_id, (namespace, metric, dims) in spec.metrics.items()]
        queries.append(aws.cloudwatch.MetricAlarmMetricQueryArgs(id="rate", expression=spec.expression,
                                                                 label=spec.description, return_data=True))
        inputs["metric_queries"] = queries
    else:
        inputs.update(namespace=spec.namespace, metric_name=spec.metric, dimensions=dict(spec.dimensions),
                      period=spec.period_s, statistic=spec.statistic, extended_statistic=spec.extended_statistic)
    return inputs
