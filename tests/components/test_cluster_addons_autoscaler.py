"""ClusterAddons' cluster-autoscaler under the offline engine: its IAM role may scale only this
cluster's node groups, and its chart values discover only them."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from tests.components.addons_support import (
    OIDC_ISSUER,
    OIDC_PROVIDER_ARN,
    ROLE,
    ROLE_POLICY,
    addons_args,
    release_of,
    values_of,
)

# --- cluster-autoscaler: IAM -------------------------------------------------------------------


def _document(resource, key: str) -> dict[str, Any]:
    value = resource.inputs[key]
    return json.loads(value) if isinstance(value, str) else value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_autoscaler_role_is_assumable_only_by_its_service_account_via_sts(plan):
    trust = _document(plan.one(ROLE), "assumeRolePolicy")
    values = values_of(plan, "cluster-autoscaler")
    namespace = release_of(plan, "cluster-autoscaler").inputs["namespace"]
    service_account = values["rbac"]["serviceAccount"]["name"]
    assert trust["Statement"], "empty trust policy"
    for statement in trust["Statement"]:
        assert statement["Effect"] == "Allow"
        assert _as_list(statement["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
        assert statement["Principal"] == {"Federated": OIDC_PROVIDER_ARN}
        assert set(statement["Condition"]) == {"StringEquals"}, "no StringLike: wildcards would widen the subject"
        assert statement["Condition"]["StringEquals"] == {
            f"{OIDC_ISSUER}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            f"{OIDC_ISSUER}:aud": "sts.amazonaws.com",
        }


def test_the_service_account_carries_the_role_and_the_role_carries_the_policy(plan):
    role, policy = plan.one(ROLE), plan.one(ROLE_POLICY)
    annotations = values_of(plan, "cluster-autoscaler")["rbac"]["serviceAccount"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == role.outputs["arn"] == plan.exports["autoscaler_role_arn"]
    assert policy.inputs["role"] == role.id


# Actions that change an Auto Scaling group or its instances. Anything the autoscaler may do
# without a condition must be read-only (Describe*/Get*).
MUTATING = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
_READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*$")


def _grants(statement: dict[str, Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _as_list(statement.get("Action", [])))


def test_mutating_autoscaling_actions_are_limited_to_this_clusters_node_groups(plan):
    statements = _document(plan.one(ROLE_POLICY), "policy")["Statement"]
    assert not any("NotAction" in s or "NotResource" in s for s in statements), "NotAction/NotResource grant too much"
    owned = {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/mlserve-prod": "owned"}}
    for action in MUTATING:
        granting = [s for s in statements if s["Effect"] == "Allow" and _grants(s, action)]
        assert granting, f"{action} is not granted: the autoscaler could not scale"
        for statement in granting:
            assert statement.get("Condition") == owned, f"{action} granted without this cluster's tag: {statement}"


def test_unconditioned_grants_are_read_only(plan):
    for statement in _document(plan.one(ROLE_POLICY), "policy")["Statement"]:
        if statement["Effect"] == "Allow" and not statement.get("Condition"):
            writes = [a for a in _as_list(statement["Action"]) if not _READ_ONLY.match(a)]
            assert not writes, f"granted on {statement['Resource']} without a condition: {writes}"


def test_autoscaler_can_read_managed_node_group_labels_to_scale_gpu_pools_from_zero(plan):
    statements = _document(plan.one(ROLE_POLICY), "policy")["Statement"]
    granting = [s for s in statements if s["Effect"] == "Allow" and _grants(s, "eks:DescribeNodegroup")]
    assert granting, "eks:DescribeNodegroup is not granted: GPU pools could not scale up from zero"
    # CKV_AWS_355: the action takes a node group ARN, so only this cluster's node groups.
    account, partition = OIDC_PROVIDER_ARN.split(":")[4], OIDC_PROVIDER_ARN.split(":")[1]
    for statement in granting:
        assert statement["Resource"] == f"arn:{partition}:eks:us-west-2:{account}:nodegroup/mlserve-prod/*/*"


@pytest.mark.parametrize("region", ["", "us-west", "US-WEST-2", "uswest2"])
def test_a_malformed_region_is_rejected(region):
    with pytest.raises(ValueError, match="region"):
        addons_args(region=region)


def test_an_issuer_with_a_scheme_is_rejected():
    with pytest.raises(ValueError, match="oidc_issuer"):
        addons_args(oidc_issuer=f"https://{OIDC_ISSUER}")


# --- cluster-autoscaler: chart values ----------------------------------------------------------


def test_autoscaler_discovers_the_node_groups_of_this_cluster_only(plan):
    values = values_of(plan, "cluster-autoscaler")
    assert values["cloudProvider"] == "aws"
    assert values["awsRegion"] == "us-west-2"
    assert values["autoDiscovery"]["clusterName"] == "mlserve-prod"
    assert set(values["autoDiscovery"]["tags"]) == {
        "k8s.io/cluster-autoscaler/enabled",
        "k8s.io/cluster-autoscaler/mlserve-prod",
    }


def test_autoscaler_flags(plan):
    extra_args = values_of(plan, "cluster-autoscaler")["extraArgs"]
    assert extra_args["balance-similar-node-groups"] is True
    assert extra_args["skip-nodes-with-system-pods"] is False
    assert extra_args["expander"] in ("least-waste", "priority")
    assert extra_args["scale-down-enabled"] is True
    assert {"scale-down-unneeded-time", "scale-down-delay-after-add", "scale-down-utilization-threshold"} <= set(extra_args)


@pytest.mark.parametrize("kubernetes_version", ["1.35", "1.36"])
def test_autoscaler_image_minor_matches_the_cluster_minor(build, kubernetes_version):
    tag = values_of(build(kubernetes_version=kubernetes_version), "cluster-autoscaler")["image"]["tag"]
    assert re.fullmatch(rf"v{re.escape(kubernetes_version)}\.\d+", tag), tag


@pytest.mark.parametrize("unknown", ["1.29", "1.99", "1.34.2", "latest"])
def test_an_unknown_kubernetes_minor_is_named_in_the_error(unknown):
    # The image table itself is tested in test_autoscaler.py; the Args refuse the minor up front.
    with pytest.raises(ValueError, match=re.escape(repr(unknown))):
        addons_args(kubernetes_version=unknown)


