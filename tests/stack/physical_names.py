"""Which inputs of a declared AWS resource are names AWS requires unique per account and region
(S3 buckets: globally), so two stacks in one account can be checked for collisions.

Resources without such an input are named by Pulumi with a random suffix (auto-naming) and cannot
collide. Names unique only inside a parent (an inline role policy inside its role, a security
group inside its VPC) cannot collide between stacks either, since the parents differ.
"""

from __future__ import annotations

from typing import Any, Iterator

# The input holding the resource's own physical name, where it is not "name".
NAME_INPUT_BY_TYPE = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": "alarmName",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    # Auto-named from a prefix (unique suffix): cannot collide, but the prefix must carry the stack.
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "namePrefix",
    # A scalable target is identified by its resource id ("endpoint/<endpoint>/variant/<variant>").
    "aws:appautoscaling/target:Target": "resourceId",
}
# Named inside a parent that differs between stacks: no account-wide collision possible.
SCOPED_TYPES = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:appautoscaling/policy:Policy",
    "aws:eks/addon:Addon",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
}
# One per account and region whatever its name: two stacks declaring one would fight over it.
ACCOUNT_SINGLETONS = {
    "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration",
    "aws:ecr/registryPolicy:RegistryPolicy",
    "aws:ecr/replicationConfiguration:ReplicationConfiguration",
    "aws:ec2/ebsEncryptionByDefault:EbsEncryptionByDefault",
    "aws:ec2/ebsDefaultKmsKey:EbsDefaultKmsKey",
    "aws:iam/accountPasswordPolicy:AccountPasswordPolicy",
    "aws:iam/accountAlias:AccountAlias",
    "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
    "aws:guardduty/detector:Detector",
    "aws:securityhub/account:Account",
}


def physical_names(resources: list[Any]) -> Iterator[tuple[str, str, str]]:
    """(type, physical name, logical name) of every account-unique name a plan declares.
    Account singletons yield their type as their name."""
    for resource in resources:
        if resource.package != "aws" or not resource.custom or resource.type.startswith("pulumi:providers"):
            continue
        if resource.type in ACCOUNT_SINGLETONS:
            yield resource.type, "<account singleton>", resource.name
            continue
        if resource.type in SCOPED_TYPES:
            continue
        value = resource.inputs.get(NAME_INPUT_BY_TYPE.get(resource.type, "name"))
        if isinstance(value, str) and value:
            yield resource.type, value, resource.name


def collisions(first: list[Any], second: list[Any]) -> list[str]:
    """Names both plans claim for the same resource type, as readable lines."""
    seen = {(kind, name): logical for kind, name, logical in physical_names(first)}
    return sorted(
        f"{kind} {name!r} (logical {seen[(kind, name)]!r} and {logical!r})"
        for kind, name, logical in physical_names(second)
        if (kind, name) in seen
    )
