"""Which inputs of an AWS resource are names AWS requires unique per account and region (S3
buckets: globally): one table, read by the `physical-names-carry-stack` rule and by the test that
plans dev and prod side by side (tests/stack/physical_names.py).

Resources without such an input are named by Pulumi with a random suffix (auto-naming) and cannot
collide. Names unique only inside a parent (an inline role policy inside its role, a security
group inside its VPC) cannot collide between stacks either, since the parents differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The input holding the resource's own physical name, where it is not "name".
NAME_INPUTS = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": "alarmName",
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


def physical_name(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """The account-unique name a resource claims, or None (auto-named, scoped, a singleton, not AWS)."""
    if not resource_type.startswith("aws:") or resource_type in SCOPED_TYPES or resource_type in ACCOUNT_SINGLETONS:
        return None
    value = props.get(NAME_INPUTS.get(resource_type, "name"))
    return value if isinstance(value, str) and value else None
