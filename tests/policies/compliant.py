"""One compliant stack for the policy tests: every resource kind the pack has rules for, declared with
the typed Args of pulumi-aws and pulumi-kubernetes and recorded under the offline engine, so the
props the rules read are exactly what the analyzer would get (camelCase, numbers as floats).

Tests take a recorded resource, change one property, and assert the rule's message. This file
holds the AWS part; tests/policies/compliant_kubernetes.py the cluster's objects.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from tests.policies import compliant_kubernetes

STACK = "prod"
ACCOUNT = "123456789012"
PREFIX = f"mlserve-{STACK}"
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"
KEY_ARN = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/example"
DIGEST = f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/mlserve-prod/serving-app@sha256:" + "a" * 64
TAGS = {"environment": "prod", "owner": "ml-platform", "cost-center": "ml-prod"}
ENDPOINT = f"{PREFIX}-endpoint"
TRAIL = f"arn:aws:cloudtrail:us-west-2:{ACCOUNT}:trail/{PREFIX}-models"


def _document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _bucket(name: str, bucket_name: str, o: pulumi.ResourceOptions, *statements: dict) -> aws.s3.Bucket:
    """A bucket with every companion the storage rules ask for; `statements` join its TLS-only policy."""
    bucket = aws.s3.Bucket(name, bucket=bucket_name, opts=o)
    aws.s3.BucketPublicAccessBlock(f"{name}-pab", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                                   ignore_public_acls=True, restrict_public_buckets=True, opts=o)
    aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id, versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
        status="Enabled"), opts=o)
    aws.s3.BucketServerSideEncryptionConfiguration(f"{name}-sse", bucket=bucket.id, rules=[
        aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=KEY_ARN), bucket_key_enabled=True)], opts=o)
    aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id, policy=_document({
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket_name}", f"arn:aws:s3:::{bucket_name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, *statements), opts=o)
    aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id, rule=aws.s3.BucketOwnershipControlsRuleArgs(
        object_ownership="BucketOwnerEnforced"), opts=o)
    aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="expire-noncurrent", status="Enabled", filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=365),
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=7))], opts=o)
    return bucket


def _registry_and_cluster(o: pulumi.ResourceOptions) -> None:
    repo = aws.ecr.Repository("repo", name=f"{PREFIX}/serving-app", image_tag_mutability="IMMUTABLE",
                              image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                              encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=KEY_ARN)],
                              opts=o)
    aws.ecr.RepositoryPolicy("repo-policy", repository=repo.name, policy=_document(
        {"Sid": "PullFromAccount", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}), opts=o)
    cluster = aws.eks.Cluster("eks", name=PREFIX, version="1.36", role_arn=f"arn:aws:iam::{ACCOUNT}:role/cluster",
                              enabled_cluster_log_types=["api", "audit", "authenticator"],
                              encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                                  resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=KEY_ARN)),
                              vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-a"], endpoint_private_access=True,
                                                                      endpoint_public_access=True, public_access_cidrs=["198.51.100.7/32"]),
                              opts=o)
    aws.eks.Addon("vpc-cni", cluster_name=cluster.name, addon_name="vpc-cni", addon_version="v1.22.3-eksbuild.1",
                  configuration_values=json.dumps({"enableNetworkPolicy": "true"}), opts=o)
    admin = f"arn:aws:iam::{ACCOUNT}:role/mlserve-deployer"
    aws.eks.AccessEntry("deployer", cluster_name=cluster.name, principal_arn=admin, type="STANDARD", opts=o)
    aws.eks.AccessPolicyAssociation("deployer-admin", cluster_name=cluster.name, principal_arn=admin,
                                    policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"), opts=o)
    lt = aws.ec2.LaunchTemplate("gpu-lt", metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_tokens="required", http_put_response_hop_limit=1, http_endpoint="enabled"),
        block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            encrypted="true", volume_size=100, volume_type="gp3"))], opts=o)
    aws.eks.NodeGroup("gpu", cluster_name=PREFIX, node_role_arn=f"arn:aws:iam::{ACCOUNT}:role/node", subnet_ids=["subnet-a"],
                      ami_type="AL2023_x86_64_NVIDIA", capacity_type="ON_DEMAND", instance_types=["g6.2xlarge"],
                      scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=1, desired_size=1, max_size=4),
                      taints=[aws.eks.NodeGroupTaintArgs(key="nvidia.com/gpu", value="true", effect="NO_SCHEDULE")],
                      launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version="1"), opts=o)


def _iam(o: pulumi.ResourceOptions) -> None:
    role = aws.iam.Role("irsa", assume_role_policy=_document({
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:mlserve-serving:model-server", f"{ISSUER}:aud": "sts.amazonaws.com"}}}), opts=o)
    aws.iam.RolePolicy("irsa-read-models", role=role.id, policy=_document(
        {"Sid": "ReadModels", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{PREFIX}-models/*"},
        {"Sid": "List", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
        {"Sid": "ScaleOwned", "Effect": "Allow", "Action": "autoscaling:SetDesiredCapacity", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/owner": PREFIX}}}), opts=o)
    aws.iam.RolePolicyAttachment("irsa-ecr", role=role.name, policy_arn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly", opts=o)
    aws.kms.Key("key", description="Encrypts the model store", enable_key_rotation=True, deletion_window_in_days=30, policy=_document(
        {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:Put*", "kms:Disable*", "kms:ScheduleKeyDeletion"],
         "Resource": "*"},
        # AWS's pattern for "any principal of this account, through this service" (managed key policies).
        {"Sid": "UseThroughS3", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": "s3.us-west-2.amazonaws.com"}}}), opts=o)


def _storage_and_serving(o: pulumi.ResourceOptions) -> None:
    models = _bucket("models", f"{PREFIX}-models", o)
    logs_name = f"{PREFIX}-models-logs"
    _bucket("audit", logs_name, o, {
        "Sid": "CloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{logs_name}/cloudtrail/*",
        "Condition": {"StringEquals": {"aws:SourceArn": TRAIL}}})
    aws.cloudtrail.Trail("trail", name=f"{PREFIX}-models", s3_bucket_name=logs_name, s3_key_prefix="cloudtrail", kms_key_id=KEY_ARN,
                         enable_log_file_validation=True, is_multi_region_trail=False, include_global_service_events=False,
                         advanced_event_selectors=[aws.cloudtrail.TrailAdvancedEventSelectorArgs(name="Model store objects", field_selectors=[
                             aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(field="eventCategory", equals=["Data"]),
                             aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(field="resources.type", equals=["AWS::S3::Object"]),
                             aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                                 field="resources.ARN", starts_withs=[models.bucket.apply(lambda b: f"arn:aws:s3:::{b}/")])])],
                         opts=o)
    aws.sagemaker.Model("model", name=f"{PREFIX}-model", execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/sm",
                        enable_network_isolation=True, primary_container=aws.sagemaker.ModelPrimaryContainerArgs(image=DIGEST), opts=o)
    config = aws.sagemaker.EndpointConfiguration(
        "endpoint-config", name=f"{PREFIX}-config", kms_key_arn=KEY_ARN,
        production_variants=[aws.sagemaker.EndpointConfigurationProductionVariantArgs(
            variant_name="stable", model_name=f"{PREFIX}-model", instance_type="ml.g5.xlarge", initial_instance_count=2)],
        data_capture_config=aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
            enable_capture=True, destination_s3_uri=f"s3://{PREFIX}-capture/", initial_sampling_percentage=10, kms_key_id=KEY_ARN,
            capture_options=[aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input")]),
        opts=o)
    topic = aws.sns.Topic("alarms", name=f"{PREFIX}-alarms", kms_master_key_id=KEY_ARN, opts=o)
    aws.sns.TopicPolicy("alarms-policy", arn=topic.arn, policy=topic.arn.apply(lambda arn: _document({
        "Sid": "CloudWatchAlarms", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish", "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:{PREFIX}-*"}}})), opts=o)
    alarm = aws.cloudwatch.MetricAlarm("errors", name=f"{PREFIX}-5xx", comparison_operator="GreaterThanThreshold", evaluation_periods=1,
                                       metric_name="Invocation5XXErrors", namespace="AWS/SageMaker", period=60, statistic="Sum",
                                       dimensions={"EndpointName": ENDPOINT, "VariantName": "stable"},
                                       threshold=1, alarm_actions=[topic.arn], opts=o)
    aws.sagemaker.Endpoint("endpoint", name=ENDPOINT, endpoint_config_name=config.name,
                           deployment_config=aws.sagemaker.EndpointDeploymentConfigArgs(
                               auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
                                   alarms=[aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(alarm_name=alarm.name)])),
                           opts=o)
    aws.appautoscaling.Target("endpoint-scaling", service_namespace="sagemaker", min_capacity=2, max_capacity=2,
                              resource_id=f"endpoint/{PREFIX}-endpoint/variant/stable",
                              scalable_dimension="sagemaker:variant:DesiredInstanceCount", opts=o)
    aws.cloudwatch.LogGroup("logs", name=f"/aws/eks/{PREFIX}/cluster", retention_in_days=90, kms_key_id=KEY_ARN, opts=o)


def _network(o: pulumi.ResourceOptions) -> None:
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.30.0.0/16", opts=o)
    aws.ec2.DefaultSecurityGroup("default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=o)
    aws.ec2.Subnet("private-a", vpc_id=vpc.id, cidr_block="10.30.0.0/18", availability_zone="us-west-2a",
                   map_public_ip_on_launch=False, opts=o)
    group = aws.ec2.SecurityGroup("endpoints", vpc_id=vpc.id, description="HTTPS from inside the VPC to the VPC endpoints",
                                  ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443,
                                                                            cidr_blocks=["10.30.0.0/16"], description="HTTPS from the VPC")],
                                  opts=o)
    # Rules of their own go to a group without inline rules (the two ways fight: AWSGuard
    # security-group-no-rule-management-conflicts).
    api = aws.ec2.SecurityGroup("api", vpc_id=group.vpc_id, description="The Kubernetes API, from inside the VPC", opts=o)
    aws.vpc.SecurityGroupIngressRule("api-from-vpc", security_group_id=api.id, description="Kubernetes API from the VPC",
                                     ip_protocol="tcp", from_port=443, to_port=443, cidr_ipv4="10.30.0.0/16", opts=o)
    aws.ec2.FlowLog("flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                    log_destination=f"arn:aws:logs:us-west-2:{ACCOUNT}:log-group:flow", iam_role_arn=f"arn:aws:iam::{ACCOUNT}:role/flow", opts=o)


def program() -> None:
    """Declare the compliant stack (run it under mlserve.offline.engine)."""
    provider = aws.Provider("aws", region="us-west-2", default_tags=aws.ProviderDefaultTagsArgs(tags=TAGS))
    o = pulumi.ResourceOptions(provider=provider)
    _registry_and_cluster(o)
    _iam(o)
    _storage_and_serving(o)
    _network(o)
    compliant_kubernetes.declare(pulumi.ResourceOptions(provider=k8s.Provider("k8s", kubeconfig="{}")), image=DIGEST)
