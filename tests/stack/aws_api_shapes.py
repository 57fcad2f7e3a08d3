"""Every AWS input the stacks declare, checked against the API that will receive it: botocore's
service models (the pinned botocore), with their enums, numeric ranges, lengths and patterns.

Each pulumi-aws resource type maps to the API operation the provider calls to create it (or to
set the field: PutRetentionPolicy, ScheduleKeyDeletion, UpdateAddon); inputs map onto the
operation's input shape by name (case and underscores aside), through `renames` where pulumi-aws
names a field differently, or through `convert` where the shapes differ (a map of dimensions
against a list of {Name, Value}). What a type declares and the API has no member for must be
listed in `provider_only`, with the reason, so a new input is never silently unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import botocore.session

ProviderOnly = Mapping[str, str]
"""Input path -> why the API has no member for it (pulumi-only options, provider conveniences)."""

TAGS = {"tags": "sent as the resource's tags (TagResource / the Tags member in its own shape)",
        "tagsAll": "computed by the provider"}


@dataclass(frozen=True)
class ApiMapping:
    """How one pulumi-aws type's inputs reach one API operation."""

    service: str
    operation: str
    renames: Mapping[str, str] = field(default_factory=dict)
    """Top-level input -> dotted member path of the operation's input ("rules" -> "ServerSideEncryptionConfiguration.Rules")."""
    provider_only: ProviderOnly = field(default_factory=dict)
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Inputs (and the outputs named in `from_outputs`) -> the operation's input, where shapes differ."""
    from_outputs: Mapping[str, str] = field(default_factory=dict)
    """Output -> member path, for names the provider generates (name_prefix + suffix)."""
    also: tuple[tuple[str, str, str], ...] = ()
    """(input, operation, member path): an input another operation receives (PutRetentionPolicy ...)."""


def _dimensions(mapping: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in (mapping or {}).items()]


def _metric_alarm(inputs: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm: dimensions are a list, a metric query's metric is MetricStat{Metric, Period, Stat}."""
    out = {k: v for k, v in inputs.items() if k not in ("name", "okActions", "dimensions", "metricQueries")}
    out["AlarmName"] = inputs["name"]
    out["OKActions"] = inputs.get("okActions", [])
    if "dimensions" in inputs:
        out["Dimensions"] = _dimensions(inputs["dimensions"])
    queries = []
    for query in inputs.get("metricQueries", []):
        converted = {k: v for k, v in query.items() if k != "metric"}
        if "metric" in query:
            metric = query["metric"]
            converted["MetricStat"] = {"Metric": {"Namespace": metric["namespace"], "MetricName": metric["metricName"],
                                                  "Dimensions": _dimensions(metric.get("dimensions"))},
                                       "Period": metric["period"], "Stat": metric["stat"]}
        queries.append(converted)
    if queries:
        out["Metrics"] = queries
    return out


def _permissions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An ec2.SecurityGroup's inline ingress/egress as AuthorizeSecurityGroup*'s IpPermissions."""
    return [{"IpProtocol": r["protocol"], "FromPort": r["fromPort"], "ToPort": r["toPort"],
             "IpRanges": [{"CidrIp": c, **({"Description": r["description"]} if "description" in r else {})}
                          for c in r.get("cidrBlocks", [])],
             "PrefixListIds": [{"PrefixListId": p} for p in r.get("prefixListIds", [])]} for r in rules]


def _security_group(inputs: dict[str, Any]) -> dict[str, Any]:
    out = {"Description": inputs.get("description", "Managed by Pulumi"), "VpcId": inputs.get("vpcId")}
    if "name" in inputs:
        out["GroupName"] = inputs["name"]
    out["_ingress"] = _permissions(inputs.get("ingress", []))
    out["_egress"] = _permissions(inputs.get("egress", []))
    return out


def _eks_cluster(inputs: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in inputs.items() if k not in ("vpcConfig", "encryptionConfig", "enabledClusterLogTypes")}
    out["resourcesVpcConfig"] = inputs.get("vpcConfig", {})
    if "encryptionConfig" in inputs:
        out["encryptionConfig"] = [inputs["encryptionConfig"]]
    if "enabledClusterLogTypes" in inputs:
        out["logging"] = {"clusterLogging": [{"types": inputs["enabledClusterLogTypes"], "enabled": True}]}
    return out


S3_BUCKET = {"bucket": "Bucket"}

MAPPINGS: dict[str, ApiMapping] = {
    # SageMaker
    "aws:sagemaker/model:Model": ApiMapping("sagemaker", "CreateModel", from_outputs={"name": "ModelName"}),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ApiMapping(
        "sagemaker", "CreateEndpointConfig", renames={"kmsKeyArn": "KmsKeyId"},
        provider_only={"namePrefix": "the provider appends a unique suffix; the resulting name is checked from outputs"},
        from_outputs={"name": "EndpointConfigName"}),
    "aws:sagemaker/endpoint:Endpoint": ApiMapping("sagemaker", "CreateEndpoint", renames={"name": "EndpointName"}),
    # CloudWatch, CloudWatch Logs, EventBridge
    "aws:cloudwatch/metricAlarm:MetricAlarm": ApiMapping("cloudwatch", "PutMetricAlarm", convert=_metric_alarm),
    "aws:cloudwatch/dashboard:Dashboard": ApiMapping("cloudwatch", "PutDashboard"),
    "aws:cloudwatch/logGroup:LogGroup": ApiMapping(
        "logs", "CreateLogGroup", renames={"name": "logGroupName"},
        provider_only={"retentionInDays": "sent with PutRetentionPolicy (checked there)"},
        also=(("retentionInDays", "PutRetentionPolicy", "retentionInDays"),)),
    "aws:cloudwatch/eventRule:EventRule": ApiMapping("events", "PutRule"),
    "aws:cloudwatch/eventTarget:EventTarget": ApiMapping(
        "events", "PutTargets", convert=lambda i: {"Rule": i["rule"], "Targets": [{"Id": i.get("targetId", "t"), "Arn": i["arn"]}]}),
    # EKS
    "aws:eks/cluster:Cluster": ApiMapping("eks", "CreateCluster", convert=_eks_cluster),
    "aws:eks/nodeGroup:NodeGroup": ApiMapping(
        "eks", "CreateNodegroup", renames={"subnetIds": "subnets", "nodeRoleArn": "nodeRole"},
        provider_only={"nodeGroupNamePrefix": "the provider appends a unique suffix; checked from outputs"},
        from_outputs={"nodeGroupName": "nodegroupName"}),
    "aws:eks/addon:Addon": ApiMapping(
        "eks", "CreateAddon", renames={"resolveConflictsOnCreate": "resolveConflicts"},
        provider_only={"resolveConflictsOnUpdate": "sent with UpdateAddon (checked there)"},
        also=(("resolveConflictsOnUpdate", "UpdateAddon", "resolveConflicts"),)),
    "aws:eks/accessEntry:AccessEntry": ApiMapping("eks", "CreateAccessEntry"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ApiMapping("eks", "AssociateAccessPolicy"),
    # EC2 / VPC
    "aws:ec2/vpc:Vpc": ApiMapping("ec2", "CreateVpc", provider_only={
        "enableDnsSupport": "ModifyVpcAttribute (a boolean)", "enableDnsHostnames": "ModifyVpcAttribute (a boolean)"}),
    "aws:ec2/subnet:Subnet": ApiMapping("ec2", "CreateSubnet", provider_only={
        "mapPublicIpOnLaunch": "ModifySubnetAttribute (a boolean)"}),
    "aws:ec2/securityGroup:SecurityGroup": ApiMapping("ec2", "CreateSecurityGroup", convert=_security_group),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ApiMapping(
        "ec2", "AuthorizeSecurityGroupIngress",
        convert=lambda i: {"IpPermissions": _permissions(i.get("ingress", []))},
        provider_only={"vpcId": "adopts the VPC's default group"}),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ApiMapping(
        "ec2", "AuthorizeSecurityGroupIngress",
        convert=lambda i: {"GroupId": i["securityGroupId"], "IpPermissions": [{
            "IpProtocol": i["ipProtocol"], "FromPort": i.get("fromPort"), "ToPort": i.get("toPort"),
            "IpRanges": [{"CidrIp": i["cidrIpv4"], "Description": i.get("description")}] if "cidrIpv4" in i else [],
            "UserIdGroupPairs": [{"GroupId": i["referencedSecurityGroupId"], "Description": i.get("description")}]
            if "referencedSecurityGroupId" in i else []}]}),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ApiMapping("ec2", "CreateVpcEndpoint"),
    "aws:ec2/launchTemplate:LaunchTemplate": ApiMapping(
        "ec2", "CreateLaunchTemplate",
        convert=lambda i: {"LaunchTemplateData": {
            **{k: v for k, v in i.items() if k not in ("description", "name", "namePrefix", "tagSpecifications")},
            "TagSpecifications": [{"ResourceType": t["resourceType"], "Tags": [{"Key": k, "Value": v} for k, v in t.get("tags", {}).items()]}
                                  for t in i.get("tagSpecifications", [])]},
            **({"VersionDescription": i["description"]} if "description" in i else {})},
        provider_only={"updateDefaultVersion": "the provider's ModifyLaunchTemplate after a new version"}),
    "aws:ec2/flowLog:FlowLog": ApiMapping("ec2", "CreateFlowLogs", renames={"vpcId": "ResourceIds", "iamRoleArn": "DeliverLogsPermissionArn"},
                                          convert=None),
    "aws:ec2/natGateway:NatGateway": ApiMapping("ec2", "CreateNatGateway"),
    "aws:ec2/eip:Eip": ApiMapping("ec2", "AllocateAddress"),
    "aws:ec2/internetGateway:InternetGateway": ApiMapping("ec2", "AttachInternetGateway", renames={"vpcId": "VpcId"}),
    "aws:ec2/route:Route": ApiMapping("ec2", "CreateRoute"),
    "aws:ec2/routeTable:RouteTable": ApiMapping("ec2", "CreateRouteTable"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ApiMapping("ec2", "AssociateRouteTable"),
    "aws:autoscaling/tag:Tag": ApiMapping(
        "autoscaling", "CreateOrUpdateTags",
        convert=lambda i: {"Tags": [{"ResourceId": i["autoscalingGroupName"], "ResourceType": "auto-scaling-group", **i["tag"]}]}),
    # ECR
    "aws:ecr/repository:Repository": ApiMapping(
        "ecr", "CreateRepository", provider_only={"forceDelete": "DeleteRepository's force flag, at destroy"},
        # pulumi-aws takes a list of (at most one) encryption configuration; the API one object.
        convert=lambda i: {**{k: v for k, v in i.items() if k not in ("name", "encryptionConfigurations")},
                           "repositoryName": i["name"],
                           **({"encryptionConfiguration": i["encryptionConfigurations"][0]} if i.get("encryptionConfigurations") else {})}),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ApiMapping(
        "ecr", "PutLifecyclePolicy", renames={"repository": "repositoryName", "policy": "lifecyclePolicyText"}),
    "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration": ApiMapping("ecr", "PutRegistryScanningConfiguration"),
    # Application Auto Scaling
    "aws:appautoscaling/target:Target": ApiMapping("application-autoscaling", "RegisterScalableTarget"),
    "aws:appautoscaling/policy:Policy": ApiMapping("application-autoscaling", "PutScalingPolicy",
                                                   from_outputs={"name": "PolicyName"}),
    # S3
    "aws:s3/bucket:Bucket": ApiMapping("s3", "CreateBucket", renames=S3_BUCKET,
                                       provider_only={"forceDestroy": "empties the bucket at destroy (provider only)"}),
    "aws:s3/bucketVersioning:BucketVersioning": ApiMapping("s3", "PutBucketVersioning", renames=S3_BUCKET),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ApiMapping(
        "s3", "PutBucketEncryption", renames={**S3_BUCKET, "rules": "ServerSideEncryptionConfiguration.Rules"}),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ApiMapping(
        "s3", "PutPublicAccessBlock", renames={**S3_BUCKET, **{k: f"PublicAccessBlockConfiguration.{k}" for k in (
            "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}}),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ApiMapping(
        "s3", "PutBucketOwnershipControls",
        convert=lambda i: {"Bucket": i["bucket"], "OwnershipControls": {"Rules": [i["rule"]]}}),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ApiMapping(
        "s3", "PutBucketLifecycleConfiguration", renames={**S3_BUCKET, "rules": "LifecycleConfiguration.Rules"}),
    "aws:s3/bucketPolicy:BucketPolicy": ApiMapping("s3", "PutBucketPolicy", renames=S3_BUCKET),
    "aws:s3/bucketLogging:BucketLogging": ApiMapping(
        "s3", "PutBucketLogging", renames={**S3_BUCKET, **{k: f"BucketLoggingStatus.LoggingEnabled.{k}" for k in (
            "targetBucket", "targetPrefix", "targetObjectKeyFormat")}}),
    "aws:s3/bucketObjectv2:BucketObjectv2": ApiMapping(
        "s3", "PutObject", renames={"kmsKeyId": "SSEKMSKeyId"},
        provider_only={"source": "the file the provider uploads (the Body)"}),
    # KMS
    "aws:kms/key:Key": ApiMapping(
        "kms", "CreateKey",
        provider_only={"enableKeyRotation": "EnableKeyRotation (a boolean)",
                       "deletionWindowInDays": "sent with ScheduleKeyDeletion at destroy (checked there)"},
        also=(("deletionWindowInDays", "ScheduleKeyDeletion", "PendingWindowInDays"),)),
    "aws:kms/alias:Alias": ApiMapping("kms", "CreateAlias", renames={"name": "AliasName"}),
    # SNS
    "aws:sns/topic:Topic": ApiMapping("sns", "CreateTopic", renames={"kmsMasterKeyId": "Attributes.KmsMasterKeyId"}),
    "aws:sns/topicPolicy:TopicPolicy": ApiMapping(
        "sns", "SetTopicAttributes",
        convert=lambda i: {"TopicArn": i["arn"], "AttributeName": "Policy", "AttributeValue": i["policy"]}),
    "aws:sns/topicSubscription:TopicSubscription": ApiMapping("sns", "Subscribe", renames={"topic": "TopicArn"}),
    # IAM
    "aws:iam/role:Role": ApiMapping("iam", "CreateRole", renames={"assumeRolePolicy": "AssumeRolePolicyDocument"},
                                    from_outputs={"name": "RoleName"}),
    "aws:iam/rolePolicy:RolePolicy": ApiMapping("iam", "PutRolePolicy", renames={"role": "RoleName", "policy": "PolicyDocument"},
                                                from_outputs={"name": "PolicyName"}),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ApiMapping("iam", "AttachRolePolicy", renames={"role": "RoleName"}),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ApiMapping(
        "iam", "CreateOpenIDConnectProvider", renames={"clientIdLists": "ClientIDList"}),
    # CloudTrail
    "aws:cloudtrail/trail:Trail": ApiMapping(
        "cloudtrail", "CreateTrail",
        provider_only={"advancedEventSelectors": "sent with PutEventSelectors (checked there)"},
        also=(("advancedEventSelectors", "PutEventSelectors", "AdvancedEventSelectors"),)),
}
MAPPINGS["aws:ec2/flowLog:FlowLog"] = ApiMapping(
    "ec2", "CreateFlowLogs",
    convert=lambda i: {"ResourceIds": [i["vpcId"]], "ResourceType": "VPC", "TrafficType": i.get("trafficType"),
                       "LogDestinationType": i.get("logDestinationType"), "LogDestination": i.get("logDestination"),
                       "DeliverLogsPermissionArn": i.get("iamRoleArn"),
                       **({"MaxAggregationInterval": i["maxAggregationInterval"]} if "maxAggregationInterval" in i else {})})
MAPPINGS["aws:ec2/internetGateway:InternetGateway"] = ApiMapping(
    "ec2", "AttachInternetGateway", convert=lambda i: {"VpcId": i["vpcId"], "InternetGatewayId": "igw-0"})

PROVIDER_LIMITS: dict[tuple[str, str], tuple[int, int, str]] = {
    # Where pulumi-aws (terraform-provider-aws) validates a range narrower than the API's.
    ("aws:sagemaker/endpoint:Endpoint", "deploymentConfig.blueGreenUpdatePolicy.maximumExecutionTimeoutInSeconds"):
        (600, 14400, "internal/service/sagemaker/endpoint.go: validation.IntBetween(600, 14400)"),
    # The API models leave these open; the provider holds the documented ranges.
    ("aws:kms/key:Key", "deletionWindowInDays"): (7, 30, "internal/service/kms/key.go: validation.IntBetween(7, 30)"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "metadataOptions.httpPutResponseHopLimit"):
        (1, 64, "internal/service/ec2/ec2_launch_template.go: validation.IntBetween(1, 64)"),
}


@lru_cache(maxsize=None)
def _service_model(service: str):
    return _SESSION.get_service_model(service)  # one session: its loader caches each model once


@lru_cache(maxsize=None)
def input_shape(service: str, operation: str):
    return _service_model(service).operation_model(operation).input_shape


_SESSION = botocore.session.get_session()


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _member(shape, key: str):
    by_norm = {_norm(name): name for name in shape.members}
    # pulumi-aws pluralises some repeated singular members ("startsWiths" for StartsWith).
    return by_norm.get(_norm(key)) or (by_norm.get(_norm(key)[:-1]) if key.endswith("s") else None)


def _nest(inputs: dict[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        target = renames.get(key, key).split(".")
        node = out
        for part in target[:-1]:
            node = node.setdefault(part, {})
        node[target[-1]] = value
    return out


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    checked: int = 0


def check(value: Any, shape, path: str, where: str, report: Report) -> None:
    """Append to `report` every way `value` breaks `shape` (botocore), naming `where` and `path`."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            report.problems.append(f"{where}: {path} = {value!r}: expected an object ({shape.name})")
            return
        for key, item in value.items():
            if key.startswith("_"):
                continue
            member = _member(shape, key)
            if member is None:
                report.unmapped.append(f"{path}.{key}".lstrip("."))
                continue
            check(item, shape.members[member], f"{path}.{member}".lstrip("."), where, report)
        return
    report.checked += 1
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        _range(len(items), meta, f"{where}: {path} has {len(items)} item(s)", report, what="item(s)")
        for index, item in enumerate(items):
            check(item, shape.member, f"{path}[{index}]", where, report)
    elif kind == "map":
        if not isinstance(value, dict):
            report.problems.append(f"{where}: {path} = {value!r}: expected a map")
            return
        _range(len(value), meta, f"{where}: {path} has {len(value)} entries", report, what="entries")
        for key, item in value.items():
            check(key, shape.key, f"{path} key", where, report)
            check(item, shape.value, f"{path}[{key!r}]", where, report)
    elif kind == "string":
        if not isinstance(value, str):
            report.problems.append(f"{where}: {path} = {value!r}: the API takes a string")
            return
        if shape.enum and value not in shape.enum:
            report.problems.append(f"{where}: {path} = {value!r}: not one of {sorted(shape.enum)}")
        _range(len(value), meta, f"{where}: {path} = {value[:60]!r} is {len(value)} characters", report, what="characters")
        pattern = meta.get("pattern")
        if pattern and not _matches(pattern, value):
            report.problems.append(f"{where}: {path} = {value[:80]!r}: does not match the API's pattern {pattern}")
    elif kind in ("integer", "long"):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or float(value) != int(value):
            report.problems.append(f"{where}: {path} = {value!r}: the API takes an integer")
            return
        _range(value, meta, f"{where}: {path} = {int(value)}", report)
    elif kind in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            report.problems.append(f"{where}: {path} = {value!r}: the API takes a number")
            return
        _range(value, meta, f"{where}: {path} = {value}", report)
    elif kind == "boolean":
        if not isinstance(value, bool) and value not in ("true", "false"):
            report.problems.append(f"{where}: {path} = {value!r}: the API takes true or false")


def _range(amount: float, meta: Mapping[str, Any], said: str, report: Report, what: str = "") -> None:
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and amount < low) or (high is not None and amount > high):
        unit = f" {what}" if what else ""
        report.problems.append(f"{said}: the API allows {low if low is not None else '-'}..{high if high is not None else '-'}{unit}")


def _matches(pattern: str, value: str) -> bool:
    """The API's patterns apply to the whole value (its validation messages anchor them)."""
    try:
        return re.fullmatch(pattern, value, re.DOTALL) is not None
    except re.error:  # a Java-only construct: not checkable here
        return True


def check_resource(resource) -> Report:
    """The Report of one recorded resource against its operation(s)."""
    mapping = MAPPINGS[resource.type]
    where = f"{resource.type} {resource.name}"
    inputs = dict(resource.inputs)
    for output, member in mapping.from_outputs.items():
        if output not in inputs and output in resource.outputs:
            inputs[output] = resource.outputs[output]
    report = Report()
    skipped = {**TAGS, **mapping.provider_only}
    body = {k: v for k, v in inputs.items() if k not in skipped}
    if mapping.convert is not None:
        api = mapping.convert(body)
    else:
        api = _nest(body, {**mapping.renames, **{o: m for o, m in mapping.from_outputs.items()}})
    shape = input_shape(mapping.service, mapping.operation)
    check(api, shape, "", where, report)
    for rules in ("_ingress", "_egress"):
        if api.get(rules):
            op = "AuthorizeSecurityGroupIngress" if rules == "_ingress" else "AuthorizeSecurityGroupEgress"
            check({"IpPermissions": api[rules]}, input_shape("ec2", op), "", where, report)
    for key, operation, member in mapping.also:
        if key in inputs:
            check(_nest({member: inputs[key]}, {}), input_shape(mapping.service, operation), "", where, report)
    for (type_token, path), (low, high, source) in PROVIDER_LIMITS.items():
        value = _get(inputs, path) if type_token == resource.type else None
        if value is not None and not low <= value <= high:
            report.problems.append(f"{where}: {path} = {int(value)}: pulumi-aws allows {low}..{high} ({source})")
    return report


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data
