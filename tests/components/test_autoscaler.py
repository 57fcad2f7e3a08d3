"""cluster-autoscaler decisions as plain functions: no Pulumi engine needed.

What the installed release and its IAM role look like is tested through ClusterAddons in
test_cluster_addons.py.
"""

from __future__ import annotations

import re

import pytest

from components.autoscaler import (
    AUTOSCALER_IMAGE_TAGS,
    autoscaler_discovery_tags,
    autoscaler_image_tag,
    autoscaler_permissions_policy,
)
from components.node_pools import NodePoolArgs, Taint, asg_tags


def test_every_pinned_autoscaler_image_matches_its_minor():
    for minor, tag in AUTOSCALER_IMAGE_TAGS.items():
        assert re.fullmatch(rf"v{re.escape(minor)}\.\d+", tag), f"{minor} -> {tag}"


@pytest.mark.parametrize("unknown", ["1.29", "1.99", "1.34.2", "latest"])
def test_an_unknown_kubernetes_minor_is_named_in_the_error(unknown):
    with pytest.raises(ValueError, match=re.escape(repr(unknown))):
        autoscaler_image_tag(unknown)


def test_discovery_tags_name_the_cluster():
    assert autoscaler_discovery_tags("mlserve-dev") == {
        "k8s.io/cluster-autoscaler/enabled": "true",
        "k8s.io/cluster-autoscaler/mlserve-dev": "owned",
    }


def test_the_policy_lets_the_autoscaler_scale_exactly_the_node_pools_tagged_for_it():
    """The scaling rights are conditioned on an ASG tag; if the tag the node pools put on their
    Auto Scaling groups ever differed from it, the autoscaler could scale no pool at all."""
    pools = [
        NodePoolArgs(name="cpu", instance_types=("m7i.large",), capacity_type="SPOT", min_size=1, desired_size=1, max_size=3),
        NodePoolArgs(
            name="gpu", instance_types=("g5.xlarge",), capacity_type="ON_DEMAND", min_size=0, desired_size=0, max_size=2,
            gpu=True, taints=(Taint(key="nvidia.com/gpu", value="true", effect="NO_SCHEDULE"),),
        ),
    ]
    policy = autoscaler_permissions_policy(cluster_name="mlserve-prod", partition="aws", region="us-west-2", account_id="123456789012")
    conditions = [s["Condition"]["StringEquals"] for s in policy["Statement"] if "Condition" in s]
    assert conditions, "the scaling statement lost its tag condition"
    for pool in pools:
        tags = asg_tags(pool, "mlserve-prod")
        for condition in conditions:
            for key, value in condition.items():
                tag_key = key.removeprefix("aws:ResourceTag/")
                assert tag_key != key, f"condition on {key}, not on a resource tag"
                assert tags.get(tag_key) == value, f"pool {pool.name}'s ASG lacks {tag_key}={value}"
