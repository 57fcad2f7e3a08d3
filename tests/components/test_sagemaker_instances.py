"""Hosting instance types come from botocore's SageMaker model, narrowed to what the serving image
runs on; node-pool types from botocore's EC2 model; a typo gets a "did you mean" from those lists."""

from __future__ import annotations

import pytest

from components import sagemaker_instances
from components.instance_types import ec2_instance_types, sagemaker_hosting_types, unknown_type_problem
from components.node_pools import GPUS_PER_INSTANCE


@pytest.mark.parametrize("instance_type,vcpus,gpus,local", [
    ("ml.m7i.large", 2, 0, False), ("ml.c7i.4xlarge", 16, 0, False), ("ml.g6.xlarge", 4, 1, True),
    ("ml.g5.12xlarge", 48, 4, True), ("ml.g6.48xlarge", 192, 8, True),
    # The sizes the old hand-typed table refused although SageMaker hosts them.
    ("ml.c5.9xlarge", 36, 0, False), ("ml.c5.18xlarge", 72, 0, False), ("ml.m6i.32xlarge", 128, 0, False),
    ("ml.t2.medium", 2, 0, False), ("ml.p4d.24xlarge", 96, 8, True), ("ml.m5d.large", 2, 0, True)])
def test_instance_facts(instance_type, vcpus, gpus, local):
    assert instance_type in sagemaker_hosting_types()
    assert sagemaker_instances.vcpus(instance_type) == vcpus
    assert sagemaker_instances.gpus(instance_type) == gpus
    assert sagemaker_instances.has_local_storage(instance_type) is local


@pytest.mark.parametrize("instance_type", ["ml.m5.8xlarge", "ml.c5.12xlarge", "ml.g6.large", "ml.m7i.huge"])
def test_types_sagemaker_does_not_host_are_refused_with_the_closest_real_ones(instance_type):
    assert instance_type not in sagemaker_hosting_types()
    with pytest.raises(ValueError, match=f"'{instance_type}' is not a SageMaker hosting instance type; did you mean 'ml"):
        sagemaker_instances.check(instance_type)


def test_a_missing_prefix_suggests_the_prefixed_type_first():
    assert unknown_type_problem("m7i.large", sagemaker_hosting_types(), "a SageMaker hosting instance type").startswith(
        "'m7i.large' is not a SageMaker hosting instance type; did you mean 'ml.m7i.large' or")


@pytest.mark.parametrize("instance_type,reason", [
    ("ml.c7g.large", "arm64"), ("ml.inf2.xlarge", "Inferentia"), ("ml.trn1.2xlarge", "Trainium"),
    ("ml.g7e.2xlarge", "no GPU count")])
def test_hosted_types_the_image_cannot_run_on_are_refused_saying_why(instance_type, reason):
    assert instance_type in sagemaker_hosting_types()
    with pytest.raises(ValueError, match=reason):
        sagemaker_instances.check(instance_type)


def test_every_accepted_type_has_vcpus_and_a_gpu_count():
    accepted = sagemaker_instances.accepted_types()
    assert len(accepted) > 100 and accepted <= sagemaker_hosting_types()
    for instance_type in accepted:
        assert sagemaker_instances.vcpus(instance_type) >= 1
        assert sagemaker_instances.gpus(instance_type) >= 0


def test_node_pool_gpu_counts_name_real_ec2_types():
    assert set(GPUS_PER_INSTANCE) <= ec2_instance_types()
    assert unknown_type_problem("m7i.larg", ec2_instance_types(), "an EC2 instance type").startswith(
        "'m7i.larg' is not an EC2 instance type; did you mean 'm7i.large' or")
    assert unknown_type_problem("m7i.large", ec2_instance_types(), "an EC2 instance type") is None
