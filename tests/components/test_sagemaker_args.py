"""Pure decisions of the SageMaker target: instance facts, weights, the container environment,
the execution policy, and Args that refuse bad combinations naming the field."""

from __future__ import annotations

import pytest

from components import sagemaker_instances
from components.sagemaker import (SageMakerArgs, VariantArgs, autoscaling_resource_id, container_environment,
                                  variant_weights)
from components.sagemaker_policy import execution_policy_document


@pytest.mark.parametrize("instance_type,vcpus,gpus,local", [
    ("ml.m7i.large", 2, 0, False), ("ml.c7i.4xlarge", 16, 0, False), ("ml.g6.xlarge", 4, 1, True),
    ("ml.g5.12xlarge", 48, 4, True), ("ml.g6.48xlarge", 192, 8, True)])
def test_instance_facts(instance_type, vcpus, gpus, local):
    assert sagemaker_instances.vcpus(instance_type) == vcpus
    assert sagemaker_instances.gpus(instance_type) == gpus
    assert sagemaker_instances.has_local_storage(instance_type) is local


@pytest.mark.parametrize("instance_type", ["m7i.large", "ml.zz9.large", "ml.g6.large", "ml.m7i.huge"])
def test_unknown_instance_types_are_refused_naming_what_is_supported(instance_type):
    with pytest.raises(ValueError, match="supported are|GPU families start at xlarge"):
        sagemaker_instances.vcpus(instance_type)


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
                  variants=(VariantArgs(track="stable", model_data_url="s3://b/m", weight=100, instance_type="ml.m7i.large"),),
                  rollback_alarm_names=("alarm",))
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


def test_the_policy_without_data_capture_grants_no_write_and_needs_a_model():
    document = execution_policy_document(partition="aws", region="us-west-2", account="1", endpoint_name="e",
                                         repository_arn="r", model_object_arns=["m/*"], capture_prefix_arn=None,
                                         key_arns=["k"])
    assert all("s3:PutObject" not in s["Action"] for s in document["Statement"])
    with pytest.raises(ValueError, match="model_object_arns"):
        execution_policy_document(partition="aws", region="r", account="1", endpoint_name="e", repository_arn="r",
                                  model_object_arns=[], capture_prefix_arn=None, key_arns=["k"])


def test_the_deployment_timeout_covers_every_bake():
    from components.sagemaker import deployment_timeout_s

    assert deployment_timeout_s("canary", 10, 15) == 3 * 15 * 60 + 1800
    assert deployment_timeout_s("linear", 10, 15) == 11 * 15 * 60 + 1800
    assert deployment_timeout_s("canary", 50, 0) == 1800
    with pytest.raises(ValueError, match="outlasts SageMaker's 28800 s limit"):
        _args(guardrail_mode="linear", step_percent=1, bake_minutes=10)
