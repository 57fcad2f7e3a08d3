"""Node pool decisions as plain functions: no Pulumi needed."""

import pytest

from components.amis import ami_type_for
from components.node_pools import (
    GPUS_PER_INSTANCE,
    NodePoolArgs,
    Taint,
    gpus_per_node,
    node_labels,
    scale_from_zero_tags,
)

GPU_TAINT = Taint(key="nvidia.com/gpu", value="true", effect="NO_SCHEDULE")
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def cpu_pool(**overrides) -> NodePoolArgs:
    values = dict(name="cpu", instance_types=("m7i.large",), capacity_type="SPOT", min_size=1, desired_size=2, max_size=4)
    return NodePoolArgs(**{**values, **overrides})


def gpu_pool(**overrides) -> NodePoolArgs:
    values = dict(
        name="gpu", instance_types=("g6.xlarge", "g6.2xlarge"), capacity_type="ON_DEMAND",
        min_size=0, desired_size=0, max_size=2, gpu=True, taints=(GPU_TAINT,),
    )
    return NodePoolArgs(**{**values, **overrides})


def test_gpu_nodes_carry_the_labels_the_device_plugin_and_workloads_select_on():
    labels = node_labels(gpu_pool(labels={"team": "ml"}))
    assert labels == {
        "team": "ml",
        "mlserve.io/node-pool": "gpu",
        "nvidia.com/gpu.present": "true",
        "mlserve.io/accelerator": "nvidia",
        "k8s.amazonaws.com/accelerator": "nvidia-l4",
    }


def test_cpu_nodes_do_not_claim_a_gpu():
    labels = node_labels(cpu_pool())
    assert "nvidia.com/gpu.present" not in labels and "mlserve.io/accelerator" not in labels


def test_gpu_pool_can_scale_up_from_zero():
    """Cluster-autoscaler sees no node of an empty pool: the ASG tags must say what a node would have."""
    tags = scale_from_zero_tags(gpu_pool())
    assert tags[f"{TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags[f"{TEMPLATE}/resources/nvidia.com/gpu"] == "1"
    assert tags[f"{TEMPLATE}/label/nvidia.com/gpu.present"] == "true"
    assert tags[f"{TEMPLATE}/label/mlserve.io/accelerator"] == "nvidia"
    assert tags[f"{TEMPLATE}/label/mlserve.io/node-pool"] == "gpu"


def test_taint_template_uses_the_kubernetes_spelling_of_the_effect():
    pool = cpu_pool(taints=(Taint(key="batch", value="only", effect="PREFER_NO_SCHEDULE"),))
    assert scale_from_zero_tags(pool)[f"{TEMPLATE}/taint/batch"] == "only:PreferNoSchedule"


def test_cpu_pool_advertises_no_gpus():
    assert not any("/resources/" in key for key in scale_from_zero_tags(cpu_pool()))


def test_gpu_hint_is_the_smallest_instance_of_the_pool():
    """Overstating GPUs would start nodes the pending pod cannot fit on."""
    assert gpus_per_node(gpu_pool(instance_types=("g5.12xlarge", "g5.48xlarge"))) == 4
    assert gpus_per_node(cpu_pool()) == 0


@pytest.mark.parametrize("instance_type", sorted(GPUS_PER_INSTANCE))
def test_gpu_count_table_lists_only_nvidia_instance_types(instance_type):
    assert ami_type_for([instance_type]).is_gpu


def test_labels_are_copied_and_read_only():
    given = {"team": "ml"}
    pool = cpu_pool(labels=given)
    given["team"] = "changed"
    assert pool.labels["team"] == "ml"
    with pytest.raises(TypeError):
        pool.labels["team"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: cpu_pool(min_size=3, desired_size=2), "min_size"),
        (lambda: cpu_pool(desired_size=5, max_size=4), "max_size"),
        (lambda: cpu_pool(min_size=0, desired_size=0, max_size=0), "max_size >= 1"),
        (lambda: cpu_pool(capacity_type="spot"), "capacity_type"),
        (lambda: cpu_pool(instance_types=("x9z.large",)), "instance_types"),
        (lambda: cpu_pool(instance_types=("g5.xlarge",)), "set gpu=True"),
        (lambda: cpu_pool(disk_size_gib=10), "disk_size_gib"),
        (lambda: cpu_pool(name="CPU_pool"), "name"),
        (lambda: cpu_pool(labels={"nvidia.com/gpu.present": "true"}), "labels"),
        (lambda: cpu_pool(taints=(GPU_TAINT, GPU_TAINT)), "taints"),
        (lambda: gpu_pool(instance_types=("m7i.large",)), "gpu=True"),
        (lambda: gpu_pool(taints=()), "taints"),
        (lambda: gpu_pool(taints=(Taint(key="nvidia.com/gpu", value="true", effect="NO_EXECUTE"),)), "taints"),
        (lambda: gpu_pool(instance_types=("g6.metal",)), "'g6.metal' is not an EC2 instance type; did you mean"),
        (lambda: Taint(key="a", value="b", effect="NoSchedule"), "effect"),
        (lambda: Taint(key="", value="b", effect="NO_SCHEDULE"), "key"),
    ],
)
def test_bad_pool_is_rejected_naming_the_field(build, field):
    with pytest.raises(ValueError, match=field):
        build()


@pytest.mark.parametrize("pool,demands,problem", [
    (dict(min_size=2, desired_size=2, max_size=8), [("stable", 2, 1), ("canary", 2, 1)], "need 4 node(s)"),
    (dict(min_size=4, desired_size=4, max_size=8), [("stable", 2, 1), ("canary", 2, 1)], None),
    (dict(min_size=0, desired_size=0, max_size=8), [], None),  # no track on it: it may idle at zero
    # Four GPUs a node: 2 + 2 one-GPU pods fit on one node per track.
    (dict(min_size=2, desired_size=2, max_size=4, instance_types=("g6.12xlarge",)), [("stable", 2, 1), ("canary", 2, 1)], None),
    (dict(min_size=4, desired_size=4, max_size=8), [("stable", 1, 2)], "do not fit one node"),
])
def test_a_gpu_pool_at_its_minimum_holds_the_replicas_it_hosts(pool, demands, problem):
    from components.node_pools import gpu_capacity_problem

    found = gpu_capacity_problem(gpu_pool(**pool), demands)
    assert (found is None) if problem is None else (problem in found)
    assert gpu_capacity_problem(cpu_pool(), [("stable", 9, 0)]) is None
