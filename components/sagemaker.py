"""The SageMaker target: the same serving image and model versions as EKS, on a real-time endpoint.

One `Model` per track (stable, canary), an `EndpointConfiguration` with one production variant
per track weighted like the EKS canary, an `Endpoint` with deployment guardrails (blue/green,
canary or linear traffic shifting, baking, automatic rollback on this stack's alarms), and
Application Auto Scaling per instance variant.

Why a model or image change updates the endpoint in place: SageMaker endpoint configurations
and models are immutable, so pulumi-aws replaces them on any change. Both are auto-named (no
fixed name to collide with) and replaced create-before-delete, Pulumi's default: the new
configuration exists before the Endpoint (fixed name, never replaced) is pointed at it with
UpdateEndpoint, which runs the blue/green deployment; the old configuration and model are
deleted after. https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import sagemaker_instances
from components import sagemaker_rollout as rollout
from components.cloudwatch import LOG_RETENTION_DAYS
from components.iam_roles import partition_of, service_trust_policy
from components.kms import cloudwatch_logs, encryption_key, via_service
from components.sagemaker_policy import VpcGrant, endpoint_log_group, execution_policy_document
from components.serving_contract import SERVICE_PORT, TRACKS

SAGEMAKER_MODEL_DIR = "/opt/ml/model"
"""Where SageMaker unpacks ModelDataUrl in the container."""
CAPTURE_PREFIX = "data-capture/"


@dataclass(frozen=True, kw_only=True)
class VariantArgs:
    """One production variant: the track's model version and its capacity."""

    track: str
    """"stable" or "canary" (also the variant name: guardrail deployments need it unchanged)."""
    model_data_url: pulumi.Input[str]
    """s3://<store>/models/<name>/<version>/model.tar.gz."""
    weight: int
    """Percent of traffic, 0-100; the variants' weights sum to 100."""
    instance_type: str | None = None
    """e.g. "ml.m7i.xlarge"; None with `serverless_memory_mb`."""
    instance_count: int = 1
    """InitialInstanceCount of the new configuration: the larger of the settings' and the running
    fleet's (`sagemaker_rollout.carried_instances`)."""
    serverless_memory_mb: int | None = None
    """Set: a serverless variant (dev), with `serverless_max_concurrency`."""
    serverless_max_concurrency: int = 5

    def __post_init__(self) -> None:
        if self.track not in TRACKS:
            raise ValueError(f"VariantArgs.track {self.track!r}: one of {TRACKS}")
        if not 0 <= self.weight <= 100:
            raise ValueError(f"VariantArgs.weight {self.weight}: 0-100")
        if (self.instance_type is None) == (self.serverless_memory_mb is None):
            raise ValueError(f"VariantArgs ({self.track}): set exactly one of instance_type and serverless_memory_mb")
        if self.instance_type is not None:
            sagemaker_instances.check(self.instance_type)  # raises naming the type
        if self.instance_count < 1:
            raise ValueError(f"VariantArgs ({self.track}).instance_count {self.instance_count}: at least 1")

    @property
    def workers(self) -> int:
        """Server processes: one per vCPU on an instance, one on serverless."""
        return sagemaker_instances.vcpus(self.instance_type) if self.instance_type else 1


@dataclass(frozen=True, kw_only=True)
class ModelNetworkArgs:
    """Where the model containers' network interfaces go: the stack's private subnets, behind a
    security group of their own that only reaches the VPC's endpoints (HTTPS) and S3."""

    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    """The private subnets, one per AZ (SageMaker spreads instances across them)."""
    vpc_cidr: pulumi.Input[str]
    """HTTPS to the interface endpoints (ECR, STS, CloudWatch Logs, SageMaker) inside the VPC."""
    s3_prefix_list_id: pulumi.Input[str]
    """The S3 gateway endpoint's prefix list: model artifacts and image layers come from S3."""


@dataclass(frozen=True, kw_only=True)
class SageMakerArgs:
    """What the endpoint serves and how it deploys."""

    endpoint_name: str
    """Fixed, from the stack ("mlserve-prod"): alarms and the checks CLI name it before it exists."""
    image_uri: pulumi.Input[str]
    """The serving image by digest: "<repository url>@sha256:<hex>"."""
    repository_arn: pulumi.Input[str]
    registry_kms_key_arn: pulumi.Input[str]
    model_bucket_arn: pulumi.Input[str]
    model_read_arns: Sequence[pulumi.Input[str]]
    """"<bucket ARN>/models/<name>/<version>/*" per served version: all the role may read."""
    model_kms_key_arn: pulumi.Input[str]
    variants: tuple[VariantArgs, ...]
    data_capture_percent: int = 0
    """0 turns data capture off."""
    min_instances: int = 1
    max_instances: int = 4
    target_invocations_per_instance: int = 300
    scale_in_cooldown_s: int = 300
    scale_out_cooldown_s: int = 60
    guardrail_mode: str = "canary"
    """"canary" or "linear" traffic shifting of a blue/green update."""
    step_percent: int = 10
    """Capacity percent per traffic step: canary 1-50, linear 10-50, at most half of each variant."""
    bake_minutes: int = 10
    """Wait after each step and before the old fleet goes; the whole rollout must end inside the
    provider's 60-minute wait (`sagemaker_rollout.rollout_problem`)."""
    network: ModelNetworkArgs | None = None
    """Required with instance variants: the models run in the VPC (serverless variants cannot)."""
    rollback_alarm_names: Sequence[pulumi.Input[str]] = ()
    """Alarms (created by this stack) that roll an update back while it bakes."""
    log_retention_days: int = 30
    environment: Mapping[str, str] = field(default_factory=dict)
    """Extra MLSERVE_* variables (batching) for every container."""
    protect: bool = False
    """Pulumi `protect` on the key and the log group (prod): `pulumi destroy` stops before them."""

    def __post_init__(self) -> None:
        tracks = [v.track for v in self.variants]
        if not tracks or tracks[0] != "stable" or len(set(tracks)) != len(tracks):
            raise ValueError(f"SageMakerArgs.variants: stable first, each track once; got {tracks}")
        if sum(v.weight for v in self.variants) != 100:
            raise ValueError(f"SageMakerArgs.variants: weights must sum to 100, got {[v.weight for v in self.variants]}")
        if any(v.serverless_memory_mb for v in self.variants) and len(self.variants) > 1:
            raise ValueError("SageMakerArgs.variants: a serverless endpoint has exactly one variant")
        if self.guardrail_mode not in ("canary", "linear"):
            raise ValueError(f"SageMakerArgs.guardrail_mode {self.guardrail_mode!r}: canary or linear")
        if not 0 <= self.data_capture_percent <= 100:
            raise ValueError(f"SageMakerArgs.data_capture_percent {self.data_capture_percent}: 0-100")
        if not 1 <= self.min_instances <= self.max_instances:
            raise ValueError(f"SageMakerArgs: need 1 <= min_instances <= max_instances, got {self.min_instances}, {self.max_instances}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"SageMakerArgs.log_retention_days {self.log_retention_days}: one of {LOG_RETENTION_DAYS}")
        if problem := rollout.rollout_problem(self.guardrail_mode, self.step_percent, self.bake_minutes):
            raise ValueError(f"SageMakerArgs (guardrail_mode, step_percent, bake_minutes): {problem}")
        for variant in self.variants:
            if variant.instance_type is None:
                continue
            sizes = range(variant.instance_count, max(variant.instance_count, self.max_instances) + 1)
            if problem := rollout.step_problem(self.guardrail_mode, self.step_percent, sizes):
                raise ValueError(f"SageMakerArgs.step_percent (variant {variant.track}): {problem}")
        if self.network is None and any(v.instance_type for v in self.variants):
            raise ValueError("SageMakerArgs.network: instance variants run in the stack's VPC; pass its private subnets")
        if not self.rollback_alarm_names:
            raise ValueError("SageMakerArgs.rollback_alarm_names: a guarded deployment needs alarms to roll back on")


def variant_weights(canary_weight: int, *, has_canary: bool) -> dict[str, int]:
    """{"stable": 90, "canary": 10}: the EKS split, as SageMaker variant weights summing to 100."""
    if not 0 <= canary_weight <= 100:
        raise ValueError(f"canary_weight {canary_weight}: 0-100")
    return {"stable": 100 - canary_weight, "canary": canary_weight} if has_canary else {"stable": 100}


def container_environment(variant: VariantArgs, extra: Mapping[str, str]) -> dict[str, str]:
    """What the server reads in the container (serving_app/settings.py): the model directory
    SageMaker fills, the contract's port, one worker per vCPU, then `extra` (batching)."""
    return {"MLSERVE_MODEL_URI": SAGEMAKER_MODEL_DIR, "MLSERVE_PORT": str(SERVICE_PORT),
            "MLSERVE_WORKERS": str(variant.workers), **extra}


def autoscaling_resource_id(endpoint_name: str, variant: str) -> str:
    """https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html#autoscaling-RegisterScalableTarget-request-ResourceId"""
    return f"endpoint/{endpoint_name}/variant/{variant}"


class SageMakerEndpoint(pulumi.ComponentResource):
    """A guarded real-time endpoint serving the stack's model versions from the serving image."""

    endpoint_name: pulumi.Output[str]
    """The endpoint's name (fixed per stack), for InvokeEndpoint and the checks CLI."""
    endpoint_config_name: pulumi.Output[str]
    """The current (auto-named) endpoint configuration."""
    execution_role_arn: pulumi.Output[str]
    """The role the containers run as."""

    def __init__(self, name: str, args: SageMakerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:sagemaker:SageMakerEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        log_group_name = endpoint_log_group(args.endpoint_name)

        # The instances' volumes and the endpoint's log group: a key of our own (the default is
        # the AWS managed aws/sagemaker key, which no key policy of ours governs).
        key = encryption_key(
            f"{name}-key", description=f"Encrypts SageMaker endpoint {args.endpoint_name} volumes and logs",
            alias=f"alias/{args.endpoint_name}-sagemaker", name_tag=f"{name}-key",
            uses=[via_service("sagemaker"), cloudwatch_logs(log_group_names=[log_group_name])], parent=self,
            protect=args.protect,
        )
        # Declared before SageMaker creates it on first write, so it is encrypted and expires.
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=log_group_name, retention_in_days=args.log_retention_days, kms_key_id=key.arn,
            # A fixed name: a replacement must delete the old group first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, protect=args.protect),
        )

        role = aws.iam.Role(f"{name}-execution", description=f"SageMaker endpoint {args.endpoint_name} containers",
                            assume_role_policy=service_trust_policy("sagemaker.amazonaws.com"), opts=child)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region
        capture = args.data_capture_percent > 0
        capture_arn = pulumi.Output.concat(args.model_bucket_arn, "/", CAPTURE_PREFIX, args.endpoint_name, "/*")
        security_group = self._model_security_group(name, args) if args.network is not None else None
        network = ([args.network.vpc_id, security_group.id, *args.network.subnet_ids]  # type: ignore[union-attr]
                   if security_group is not None else [])
        policy = pulumi.Output.all(
            partition_of(role.arn), region, account, args.repository_arn, capture_arn, key.arn,
            args.registry_kms_key_arn, args.model_kms_key_arn, pulumi.Output.all(*network),
            *args.model_read_arns,
        ).apply(lambda v: json.dumps(execution_policy_document(
            partition=v[0], region=v[1], account=v[2], endpoint_name=args.endpoint_name, repository_arn=v[3],
            capture_prefix_arn=v[4] if capture else None, key_arns=v[5:8], model_object_arns=v[9:],
            vpc=VpcGrant(vpc_id=v[8][0], security_group_id=v[8][1], subnet_ids=v[8][2:]) if v[8] else None,
        )))
        role_policy = aws.iam.RolePolicy(f"{name}-execution-policy", role=role.id, policy=policy, opts=child)

        models = {
            variant.track: aws.sagemaker.Model(
                f"{name}-model-{variant.track}",
                execution_role_arn=role.arn,
                primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                    image=args.image_uri, model_data_url=variant.model_data_url,
                    environment=container_environment(variant, args.environment),
                ),
                # The server reads its model from /opt/ml/model and calls nothing: no network at all.
                # https://docs.aws.amazon.com/sagemaker/latest/dg/mkt-algo-model-internet-free.html
                enable_network_isolation=True,
                # SageMaker's side of the container (artifact download, image pull, logs) goes through
                # the VPC's endpoints, never the internet: https://docs.aws.amazon.com/sagemaker/latest/dg/host-vpc.html
                vpc_config=aws.sagemaker.ModelVpcConfigArgs(
                    subnets=list(args.network.subnet_ids), security_group_ids=[security_group.id],
                ) if args.network is not None and security_group is not None and variant.instance_type else None,
                # SageMaker checks the role while creating the model: wait for its permissions.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
            )
            for variant in args.variants
        }
        local_storage = any(v.instance_type and sagemaker_instances.has_local_storage(v.instance_type)
                            for v in args.variants)
        serverless = any(v.serverless_memory_mb for v in args.variants)
        bucket = pulumi.Output.from_input(args.model_bucket_arn).apply(lambda arn: arn.split(":::", 1)[-1])
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            # Auto-named from the stack: a replacement never collides with the configuration in use.
            name_prefix=f"{args.endpoint_name}-",
            production_variants=[_production_variant(v, models[v.track].name) for v in args.variants],
            # Instance-store families and serverless variants refuse a volume key.
            kms_key_arn=None if local_storage or serverless else key.arn,
            data_capture_config=aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                # pulumi-aws sends EnableCapture=false unless told (its documented default), which
                # would keep the block and capture nothing.
                enable_capture=True,
                initial_sampling_percentage=args.data_capture_percent,
                destination_s3_uri=pulumi.Output.concat("s3://", bucket, "/", CAPTURE_PREFIX, args.endpoint_name),
                kms_key_id=args.model_kms_key_arn,
                capture_options=[aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode=m)
                                 for m in ("Input", "Output")],
                # Every type the server reads and answers (serving_app/protocols/sagemaker.py), so
                # captures hold text, not base64 (CSV was base64 while only JSON was listed).
                capture_content_type_header=aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
                    csv_content_types=["text/csv"], json_content_types=["application/json", "application/jsonlines"]),
            ) if capture else None,
            opts=child,
        )
        shift = aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
            type="CANARY" if args.guardrail_mode == "canary" else "LINEAR",
            wait_interval_in_seconds=args.bake_minutes * 60,
            canary_size=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs(
                type="CAPACITY_PERCENT", value=args.step_percent) if args.guardrail_mode == "canary" else None,
            linear_step_size=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSizeArgs(
                type="CAPACITY_PERCENT", value=args.step_percent) if args.guardrail_mode == "linear" else None,
        )
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=args.endpoint_name,
            endpoint_config_name=config.name,
            deployment_config=aws.sagemaker.EndpointDeploymentConfigArgs(
                blue_green_update_policy=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
                    traffic_routing_configuration=shift,
                    # The old fleet is kept for the final bake, then terminated.
                    termination_wait_in_seconds=args.bake_minutes * 60,
                    # Every bake and the new fleet's start: ends inside pulumi-aws's 60-minute wait
                    # (components/sagemaker_rollout.py), so `up` sees the outcome.
                    maximum_execution_timeout_in_seconds=rollout.execution_timeout_s(
                        args.guardrail_mode, args.step_percent, args.bake_minutes),
                ),
                auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
                    alarms=[aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(alarm_name=alarm)
                            for alarm in args.rollback_alarm_names],
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )
        for variant in args.variants:
            if variant.serverless_memory_mb is None:
                self._autoscaling(name, args, variant.track, endpoint)

        self.endpoint_name = endpoint.name
        self.endpoint_config_name = config.name
        self.execution_role_arn = role.arn
        self.register_outputs({"endpoint_name": self.endpoint_name, "endpoint_config_name": self.endpoint_config_name,
                               "execution_role_arn": self.execution_role_arn})

    def _model_security_group(self, name: str, args: SageMakerArgs) -> aws.ec2.SecurityGroup:
        """The models' own group: no ingress (SageMaker reaches the container on its own network),
        egress HTTPS to the VPC's interface endpoints and to S3 through its gateway endpoint."""
        network = args.network
        assert network is not None
        return aws.ec2.SecurityGroup(
            f"{name}-models", vpc_id=network.vpc_id,
            description=f"SageMaker endpoint {args.endpoint_name} model containers",
            egress=[
                aws.ec2.SecurityGroupEgressArgs(description="HTTPS to the VPC endpoints", protocol="tcp",
                                                from_port=443, to_port=443, cidr_blocks=[network.vpc_cidr]),
                aws.ec2.SecurityGroupEgressArgs(description="HTTPS to S3 (gateway endpoint)", protocol="tcp",
                                                from_port=443, to_port=443, prefix_list_ids=[network.s3_prefix_list_id]),
            ],
            tags={"Name": f"{args.endpoint_name}-models"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _autoscaling(self, name: str, args: SageMakerArgs, track: str, endpoint: aws.sagemaker.Endpoint) -> None:
        """Target tracking on invocations per instance.
        https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html
        Changing a variant's instance type while it is a scaling target makes UpdateEndpoint fail
        (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-update.html): docs/sagemaker.md."""
        target = aws.appautoscaling.Target(
            f"{name}-scaling-{track}",
            service_namespace="sagemaker",
            resource_id=endpoint.name.apply(lambda endpoint_name: autoscaling_resource_id(endpoint_name, track)),
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=args.min_instances,
            max_capacity=args.max_instances,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.appautoscaling.Policy(
            f"{name}-scaling-{track}-invocations",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=args.target_invocations_per_instance,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"),
                scale_in_cooldown=args.scale_in_cooldown_s,
                scale_out_cooldown=args.scale_out_cooldown_s,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _production_variant(variant: VariantArgs, model_name: pulumi.Input[str]) -> aws.sagemaker.EndpointConfigurationProductionVariantArgs:
    serverless = None
    if variant.serverless_memory_mb is not None:
        serverless = aws.sagemaker.EndpointConfigurationProductionVariantServerlessConfigArgs(
            memory_size_in_mb=variant.serverless_memory_mb, max_concurrency=variant.serverless_max_concurrency)
    instances = variant.instance_type is not None
    return aws.sagemaker.EndpointConfigurationProductionVariantArgs(
        variant_name=variant.track,
        model_name=model_name,
        initial_variant_weight=variant.weight,
        instance_type=variant.instance_type,
        initial_instance_count=variant.instance_count if instances else None,
        # Bound the new fleet's start, which the rollout's time budget counts on (sagemaker_rollout.py).
        model_data_download_timeout_in_seconds=rollout.MODEL_DOWNLOAD_TIMEOUT_S if instances else None,
        container_startup_health_check_timeout_in_seconds=rollout.CONTAINER_STARTUP_TIMEOUT_S if instances else None,
        serverless_config=serverless,
    )
