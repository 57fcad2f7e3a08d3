"""One compliant stack for the policy tests: every resource kind the pack has rules for, declared with
the typed Args of pulumi-aws and pulumi-kubernetes and recorded under the offline engine, so the
props the rules read are exactly what the analyzer would get (camelCase, numbers as floats).

Tests take a recorded resource, change one property, and assert the rule's message.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import serving_contract as contract

STACK = "prod"
PREFIX = f"mlserve-{STACK}"
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"
KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/example"
DIGEST = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlserve-prod/serving-app@sha256:" + "a" * 64
TAGS = {"environment": "prod", "owner": "ml-platform", "cost-center": "ml-prod"}


def _pod_spec(image: str = DIGEST) -> k8s.core.v1.PodSpecArgs:
    return k8s.core.v1.PodSpecArgs(
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True, run_as_user=10001, seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
        containers=[k8s.core.v1.ContainerArgs(
            name="server", image=image,
            resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "1", "memory": "2Gi"}, limits={"memory": "2Gi"}),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/ping", port=8080)),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/ping", port=8080)),
            security_context=k8s.core.v1.SecurityContextArgs(
                allow_privilege_escalation=False, read_only_root_filesystem=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
        )],
    )


def _aws(aws_opts: pulumi.ResourceOptions) -> None:
    o = aws_opts
    repo = aws.ecr.Repository("repo", name=f"{PREFIX}/serving-app", image_tag_mutability="IMMUTABLE",
                              image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                              encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=KEY_ARN)],
                              opts=o)
    aws.ecr.RepositoryPolicy("repo-policy", repository=repo.name, policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PullFromAccount", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}), opts=o)
    aws.eks.Cluster("eks", name=PREFIX, version="1.36", role_arn="arn:aws:iam::123456789012:role/cluster",
                    enabled_cluster_log_types=["api", "audit", "authenticator"],
                    encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                        resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=KEY_ARN)),
                    vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-a"], endpoint_private_access=True,
                                                            endpoint_public_access=True, public_access_cidrs=["198.51.100.7/32"]),
                    opts=o)
    lt = aws.ec2.LaunchTemplate("gpu-lt", metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_tokens="required", http_put_response_hop_limit=1, http_endpoint="enabled"),
        block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            encrypted="true", volume_size=100, volume_type="gp3"))], opts=o)
    aws.eks.NodeGroup("gpu", cluster_name=PREFIX, node_role_arn="arn:aws:iam::123456789012:role/node", subnet_ids=["subnet-a"],
                      ami_type="AL2023_x86_64_NVIDIA", capacity_type="ON_DEMAND", instance_types=["g6.2xlarge"],
                      scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=1, desired_size=1, max_size=4),
                      taints=[aws.eks.NodeGroupTaintArgs(key="nvidia.com/gpu", value="true", effect="NO_SCHEDULE")],
                      launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=lt.id, version="1"), opts=o)
    role = aws.iam.Role("irsa", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:mlserve-serving:model-server", f"{ISSUER}:aud": "sts.amazonaws.com"}}}]}), opts=o)
    aws.iam.RolePolicy("irsa-read-models", role=role.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadModels", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{PREFIX}-models/*"},
        {"Sid": "List", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
        {"Sid": "ScaleOwned", "Effect": "Allow", "Action": "autoscaling:SetDesiredCapacity", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/owner": PREFIX}}}]}), opts=o)
    aws.iam.RolePolicyAttachment("irsa-ecr", role=role.name, policy_arn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly", opts=o)
    bucket = aws.s3.Bucket("models", bucket=f"{PREFIX}-models", opts=o)
    aws.s3.BucketPublicAccessBlock("models-pab", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                                   ignore_public_acls=True, restrict_public_buckets=True, opts=o)
    aws.s3.BucketVersioning("models-versioning", bucket=bucket.id, versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
        status="Enabled"), opts=o)
    aws.s3.BucketServerSideEncryptionConfiguration("models-sse", bucket=bucket.id, rules=[
        aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=KEY_ARN), bucket_key_enabled=True)], opts=o)
    aws.s3.BucketPolicy("models-policy", bucket=bucket.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{PREFIX}-models", f"arn:aws:s3:::{PREFIX}-models/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}), opts=o)
    aws.sagemaker.Model("model", name=f"{PREFIX}-model", execution_role_arn="arn:aws:iam::123456789012:role/sm",
                        enable_network_isolation=True, primary_container=aws.sagemaker.ModelPrimaryContainerArgs(image=DIGEST), opts=o)
    config = aws.sagemaker.EndpointConfiguration(
        "endpoint-config", name=f"{PREFIX}-config", kms_key_arn=KEY_ARN,
        production_variants=[aws.sagemaker.EndpointConfigurationProductionVariantArgs(
            variant_name="stable", model_name=f"{PREFIX}-model", instance_type="ml.g5.xlarge", initial_instance_count=2)],
        data_capture_config=aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
            enable_capture=True, destination_s3_uri=f"s3://{PREFIX}-capture/", initial_sampling_percentage=10, kms_key_id=KEY_ARN,
            capture_options=[aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input")]),
        opts=o)
    aws.sagemaker.Endpoint("endpoint", name=f"{PREFIX}-endpoint", endpoint_config_name=config.name,
                           deployment_config=aws.sagemaker.EndpointDeploymentConfigArgs(
                               auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
                                   alarms=[aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(alarm_name=f"{PREFIX}-5xx")])),
                           opts=o)
    aws.appautoscaling.Target("endpoint-scaling", service_namespace="sagemaker", min_capacity=2, max_capacity=2,
                              resource_id=f"endpoint/{PREFIX}-endpoint/variant/stable",
                              scalable_dimension="sagemaker:variant:DesiredInstanceCount", opts=o)
    aws.cloudwatch.LogGroup("logs", name=f"/aws/eks/{PREFIX}/cluster", retention_in_days=90, kms_key_id=KEY_ARN, opts=o)
    topic = aws.sns.Topic("alarms", name=f"{PREFIX}-alarms", kms_master_key_id=KEY_ARN, opts=o)
    aws.cloudwatch.MetricAlarm("errors", name=f"{PREFIX}-5xx", comparison_operator="GreaterThanThreshold", evaluation_periods=1,
                               metric_name="Invocation5XXErrors", namespace="AWS/SageMaker", period=60, statistic="Sum",
                               threshold=1, alarm_actions=[topic.arn], opts=o)
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.30.0.0/16", opts=o)
    aws.ec2.FlowLog("flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                    log_destination="arn:aws:logs:us-west-2:123456789012:log-group:flow", iam_role_arn="arn:aws:iam::123456789012:role/flow", opts=o)


def _kubernetes(k8s_opts: pulumi.ResourceOptions) -> None:
    o, ns = k8s_opts, contract.SERVING_NAMESPACE
    meta = lambda name: k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns)  # noqa: E731
    labels = {contract.APP_LABEL: contract.APP_NAME, contract.TRACK_LABEL: "stable"}
    k8s.core.v1.Namespace("serving-ns", metadata=k8s.meta.v1.ObjectMetaArgs(name=ns), opts=o)
    k8s.apps.v1.Deployment("stable", metadata=meta("model-server-stable"), spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=2, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
        template=k8s.core.v1.PodTemplateSpecArgs(metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=_pod_spec())), opts=o)
    k8s.autoscaling.v2.HorizontalPodAutoscaler("stable-hpa", metadata=meta("model-server-stable"),
        spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
            min_replicas=2, max_replicas=10, scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="apps/v1", kind="Deployment", name="model-server-stable")), opts=o)
    k8s.policy.v1.PodDisruptionBudget("stable-pdb", metadata=meta("model-server-stable"), spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
        max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)), opts=o)
    k8s.apiextensions.CustomResource("strict-mtls", api_version="security.istio.io/v1", kind="PeerAuthentication",
                                     metadata=meta("default"), spec={"mtls": {"mode": "STRICT"}}, opts=o)
    k8s.apiextensions.CustomResource("routes", api_version="networking.istio.io/v1", kind="VirtualService", metadata=meta("model-server"),
                                     spec={"hosts": ["model-server"], "http": [{"route": [
                                         {"destination": {"host": "model-server", "subset": "stable"}, "weight": 90},
                                         {"destination": {"host": "model-server", "subset": "canary"}, "weight": 10}]}]},
                                     opts=o)


def program() -> None:
    """Declare the compliant stack (run it under mlserve.offline.engine)."""
    provider = aws.Provider("aws", region="us-west-2", default_tags=aws.ProviderDefaultTagsArgs(tags=TAGS))
    _aws(pulumi.ResourceOptions(provider=provider))
    cluster_provider = k8s.Provider("k8s", kubeconfig="{}")
    _kubernetes(pulumi.ResourceOptions(provider=cluster_provider))
