"""Every AWS input both stacks declare, validated against botocore's service models (enums, numeric
ranges, lengths, patterns) and pulumi-aws's own narrower limits: a mismatch names the resource, the
field, the value and what the API allows (tests/stack/aws_api_shapes.py). Where pulumi-aws's default
differs from the API's or the service's, the stack's explicit value is pinned."""

from __future__ import annotations

import copy

import pytest

from tests.stack.aws_api_shapes import MAPPINGS, check_resource

SERVICES = {"sagemaker", "eks", "ec2", "ecr", "cloudwatch", "application-autoscaling", "s3", "kms", "sns", "iam"}


@pytest.fixture(scope="module")
def dev_with_sagemaker():
    """dev serving from SageMaker (a serverless variant): the one target variant the shipped stacks lack."""
    from tests.stack.test_sagemaker_target import _dev_with_sagemaker, build

    return build("dev", _dev_with_sagemaker)


def _plans(built_plan, dev_with_sagemaker):
    return [built_plan("dev"), built_plan("prod"), dev_with_sagemaker]


def test_every_aws_input_fits_the_api_that_receives_it(built_plan, dev_with_sagemaker):
    problems, unmapped, unknown, checked = [], [], set(), {}
    for plan in _plans(built_plan, dev_with_sagemaker):
        for resource in plan.resources:
            if resource.package != "aws" or resource.type == "pulumi:providers:aws":
                continue
            if resource.type not in MAPPINGS:
                unknown.add(resource.type)
                continue
            report = check_resource(resource)
            problems += report.problems
            unmapped += [f"{resource.type} {resource.name}: {path}" for path in report.unmapped]
            checked[resource.type] = checked.get(resource.type, 0) + report.checked
    assert sorted(unknown) == [], "map each new pulumi-aws type to its API operation in tests/stack/aws_api_shapes.py"
    assert unmapped == [], "map each input to an API member, or list it in provider_only with the reason"
    assert problems == []
    assert {MAPPINGS[t].service for t in checked} >= SERVICES
    assert all(count > 0 for count in checked.values()), checked


def _one(plan, type_token, name=None):
    return copy.deepcopy(plan.one(type_token, name))


def _set(resource, path, value):
    node = resource.inputs
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return resource


CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ROUTING = "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"


@pytest.mark.parametrize("type_token,name,path,value,expected", [
    (CONFIG, None, "productionVariants.0.instanceType", "ml.m5.8xlarge",
     "ProductionVariants[0].InstanceType = 'ml.m5.8xlarge': not one of ["),
    (CONFIG, None, "dataCaptureConfig.initialSamplingPercentage", 101.0,
     "DataCaptureConfig.InitialSamplingPercentage = 101: the API allows 0..100"),
    (CONFIG, None, "productionVariants.0.variantName", "stable_1",
     "ProductionVariants[0].VariantName = 'stable_1': does not match the API's pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"),
    (ENDPOINT, None, f"{ROUTING}.waitIntervalInSeconds", 4000.0,
     "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.WaitIntervalInSeconds = 4000: the API allows 0..3600"),
    (ENDPOINT, None, "deploymentConfig.blueGreenUpdatePolicy.maximumExecutionTimeoutInSeconds", 20000.0,
     "deploymentConfig.blueGreenUpdatePolicy.maximumExecutionTimeoutInSeconds = 20000: pulumi-aws allows 600..14400"),
    ("aws:eks/nodeGroup:NodeGroup", "cluster-cpu", "amiType", "AL2023_X86_64_STANDARD",
     "amiType = 'AL2023_X86_64_STANDARD': not one of ["),
    ("aws:eks/nodeGroup:NodeGroup", "cluster-gpu", "taints.0.effect", "NoSchedule",
     "taints[0].effect = 'NoSchedule': not one of ['NO_EXECUTE', 'NO_SCHEDULE', 'PREFER_NO_SCHEDULE']"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-sagemaker-stable-5xx", "comparisonOperator", "GreaterThan",
     "ComparisonOperator = 'GreaterThan': not one of ["),
    ("aws:ec2/launchTemplate:LaunchTemplate", None, "metadataOptions.httpPutResponseHopLimit", 99.0,
     "metadataOptions.httpPutResponseHopLimit = 99: pulumi-aws allows 1..64"),
    ("aws:appautoscaling/policy:Policy", None, "targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification"
     ".predefinedMetricType", "SageMakerInvocations",
     "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType = 'SageMakerInvocations': not one of ["),
    ("aws:kms/key:Key", "sagemaker-key", "deletionWindowInDays", 3.0, "deletionWindowInDays = 3: pulumi-aws allows 7..30"),
    ("aws:iam/role:Role", "sagemaker-execution", "description", "SageMaker \u2014 containers",
     "Description = 'SageMaker \u2014 containers': does not match the API's pattern"),
])
def test_a_value_the_api_refuses_is_named_with_what_it_allows(built_plan, type_token, name, path, value, expected):
    plan = built_plan("prod")
    resources = [r for r in plan.of_type(type_token) if name is None or r.name == name]
    resource = _set(copy.deepcopy(resources[0]), path, value)
    assert check_resource(resources[0]).problems == []
    [problem] = check_resource(resource).problems
    assert problem.startswith(f"{type_token} {resource.name}: {expected}"), problem


# Where the provider's default is not what the stack needs (or not the API's), the value is set explicitly.
PINNED = [
    (CONFIG, "dataCaptureConfig.enableCapture", True,
     "pulumi-aws defaults EnableCapture to false (the API's default is to capture)"),
    (ENDPOINT, "deploymentConfig.blueGreenUpdatePolicy.terminationWaitInSeconds", 600.0,
     "pulumi-aws defaults it to 0: the old fleet would go before the final bake"),
    ("aws:ecr/repository:Repository", "imageTagMutability", "IMMUTABLE", "the API and provider default to MUTABLE"),
    ("aws:kms/key:Key", "enableKeyRotation", True, "CreateKey leaves rotation off"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "metadataOptions.httpTokens", "required",
     "EC2 allows IMDSv1 unless told (httpTokens optional)"),
    ("aws:eks/cluster:Cluster", "accessConfig.bootstrapClusterCreatorAdminPermissions", False,
     "CreateCluster makes the creator admin by default"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "treatMissingData", "notBreaching", "PutMetricAlarm defaults to missing"),
]


@pytest.mark.parametrize("type_token,path,value,why", PINNED, ids=[p[1] for p in PINNED])
def test_values_whose_provider_default_differs_are_set_explicitly(built_plan, type_token, path, value, why):
    from policies.props import get

    resources = built_plan("prod").of_type(type_token)
    assert resources
    assert {r.name: get(r.inputs, path) for r in resources} == {r.name: value for r in resources}, why
