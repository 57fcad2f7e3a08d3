"""Pure decisions of the SageMaker target: instance facts, weights, the container environment,
the execution policy, and Args that refuse bad combinations naming the field."""

from __future__ import annotations

import pytest

from components.sagemaker import (ModelNetworkArgs, SageMakerArgs, VariantArgs, autoscaling_resource_id, container_environment,
                                  variant_weights)
from components.sagemaker_policy import execution_policy_document


@pytest.mark.parametrize("weight,expected", [(0, {"stable": 100, "canary": 0}), (10, {"stable": 90, "canary": 10}),
                                             (100, {"stable": 0, "canary": 100})])
def test_variant_weights_sum_to_100(weight, expected):
    assert variant_weights(weight, has_canary=True) == expected
    assert variant_weights(0, has_canary=False) == {"stable": 100}


def test_container_environment_names_the_model_directory_port_and_one_worker_per_vcpu():
    instance = VariantArgs(track="stable", model_data_url="s3://b/m.tar.gz", weight=100, instance_type="ml.c7i.2xlarge")
    serverless = VariantArgs(track="stable", model_data_url="s3://b/m.tar.gz", weight=100, serverless_memory_mb=2048)
    assert container_environment(instance, {"MLSERVE_MAX_BATCH_SIZE": "32"}) == {
        "MLSERVE_MODEL_URI": "/opt/ml/model", "MLSERVE_PORT": "8080", "MLSERVE_WORKERS": "8",
        "MLSERVE_MAX_BATCH_SIZE": "32"}
    assert container_environment(serverless, {})["MLSERVE_WORKERS"] == "1"


def test_autoscaling_resource_id_format():
    assert autoscaling_resource_id("mlserve-prod", "canary") == "endpoint/mlserve-prod/variant/canary"


def _args(**overrides) -> SageMakerArgs:
    values = dict(endpoint_name="mlserve-dev", image_uri="i", repository_arn="r", registry_kms_key_arn="k",
                  model_bucket_arn="arn:aws:s3:::b", model_read_arns=("a",), model_kms_key_arn="k",
                  variants=(VariantArgs(track="stable", model_data_url="s3://b/m", weight=100, instance_type="ml.m7i.large",
                                        instance_count=2),),
                  rollback_alarm_names=("alarm",), max_instances=4,
                  network=ModelNetworkArgs(vpc_id="vpc-1", subnet_ids=["subnet-1"], vpc_cidr="10.0.0.0/16",
                                           s3_prefix_list_id="pl-1"))
    return SageMakerArgs(**{**values, **overrides})


@pytest.mark.parametrize("overrides,field", [
    ({"variants": (VariantArgs(track="stable", model_data_url="m", weight=90, instance_type="ml.m7i.large"),)}, "weights must sum to 100"),
    ({"variants": (VariantArgs(track="canary", model_data_url="m", weight=100, instance_type="ml.m7i.large"),)}, "stable first"),
    ({"variants": (VariantArgs(track="stable", model_data_url="m", weight=90, serverless_memory_mb=2048),
                   VariantArgs(track="canary", model_data_url="m", weight=10, serverless_memory_mb=2048))}, "exactly one variant"),
    ({"guardrail_mode": "all-at-once"}, "guardrail_mode"),
    ({"rollback_alarm_names": ()}, "rollback_alarm_names"),
    ({"min_instances": 3, "max_instances": 2}, "min_instances <= max_instances"),
    ({"log_retention_days": 2}, "log_retention_days"),
])
def test_sagemaker_args_refuse_bad_combinations_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        _args(**overrides)


def test_a_variant_is_either_instances_or_serverless():
    with pytest.raises(ValueError, match="exactly one of instance_type and serverless_memory_mb"):
        VariantArgs(track="stable", model_data_url="m", weight=100)
    with pytest.raises(ValueError, match="track"):
        VariantArgs(track="blue", model_data_url="m", weight=100, instance_type="ml.m7i.large")


def test_the_policy_lets_sagemaker_make_interfaces_only_in_the_models_subnets_and_group():
    from components.sagemaker_policy import VpcGrant

    document = execution_policy_document(partition="aws", region="us-west-2", account="1", endpoint_name="e",
                                         repository_arn="r", model_object_arns=["m/*"], capture_prefix_arn=None,
                                         key_arns=["k"], vpc=VpcGrant(vpc_id="vpc-1", subnet_ids=["subnet-a"],
                                                                      security_group_id="sg-1"))
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["CreateInterfaces"]["Resource"] == ["arn:aws:ec2:us-west-2:1:network-interface/*",
                                                      "arn:aws:ec2:us-west-2:1:subnet/subnet-a",
                                                      "arn:aws:ec2:us-west-2:1:security-group/sg-1"]
    assert by_sid["ManageInterfaces"]["Condition"] == {"ArnEquals": {"ec2:Vpc": "arn:aws:ec2:us-west-2:1:vpc/vpc-1"}}
    assert all(a.startswith("ec2:Describe") for a in by_sid["DescribeNetwork"]["Action"])


def test_the_policy_without_data_capture_grants_no_write_and_needs_a_model():
    document = execution_policy_document(partition="aws", region="us-west-2", account="1", endpoint_name="e",
                                         repository_arn="r", model_object_arns=["m/*"], capture_prefix_arn=None,
                                         key_arns=["k"])
    assert all("s3:PutObject" not in s["Action"] for s in document["Statement"])
    with pytest.raises(ValueError, match="model_object_arns"):
        execution_policy_document(partition="aws", region="r", account="1", endpoint_name="e", repository_arn="r",
                                  model_object_arns=[], capture_prefix_arn=None, key_arns=["k"])


def test_a_step_over_half_a_variant_or_a_rollout_past_the_provider_wait_is_refused():
    one = (VariantArgs(track="stable", model_data_url="s3://b/m", weight=100, instance_type="ml.m7i.large"),)
    with pytest.raises(ValueError, match=r"step_percent \(variant stable\): 10% of 1 instance\(s\) is 1"):
        _args(variants=one, max_instances=4)
    with pytest.raises(ValueError, match="pulumi up waits 60 min"):
        _args(guardrail_mode="linear", step_percent=10, bake_minutes=10)


def test_instance_variants_need_the_network():
    with pytest.raises(ValueError, match="SageMakerArgs.network"):
        _args(network=None)
