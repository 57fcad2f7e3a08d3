"""The Cluster component, for what a first real `pulumi up` (and `destroy`) meets: the deployer's
access entry, the runner's way into a private API, protection, nodes that follow the control plane,
and the order the add-ons come up in. Options (protect, delete-before-replace, dependencies) are read
from what the engine recorded, as the real engine receives them."""

from __future__ import annotations

import dataclasses

import pytest

from components.amis import AMI_RELEASE_VERSIONS, AmiType
from mlserve.offline import engine
from tests.components.test_cluster import (
    ADDON,
    CLUSTER,
    DEV,
    NODE_GROUP,
    PROD,
    TEMPLATE,
    _asg_tags,
    _run,
)

DEPLOYER = f"arn:aws:iam::{engine.FAKE_ACCOUNT_ID}:role/{engine.FAKE_DEPLOY_ROLE}"
RUNNER_SG = "sg-0123456789abcdef0"


@pytest.fixture(scope="module")
def dev():
    return _run(DEV)


@pytest.fixture(scope="module")
def prod():
    return _run(PROD)


def _by_urn(run):
    return {r.urn: r for r in run.plan.resources}


def _names(run, urns) -> set[str]:
    resources = _by_urn(run)
    return {resources[urn].name for urn in urns if urn in resources}


# --- Access ----------------------------------------------------------------------------------


def test_the_deployer_gets_an_explicit_cluster_admin_entry(prod):
    entry = prod.plan.one("aws:eks/accessEntry:AccessEntry", "cluster-deployer")
    association = prod.plan.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "cluster-deployer-cluster-admin")
    # The role, not the STS session GetCallerIdentity reports (EKS refuses session ARNs).
    assert entry.inputs["principalArn"] == association.inputs["principalArn"] == DEPLOYER
    assert association.inputs["accessScope"] == {"type": "cluster"}
    assert association.inputs["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert entry.urn in association.dependencies


def test_a_deployer_listed_among_the_admins_gets_one_entry_not_two():
    run = _run(dataclasses.replace(DEV, admin_role_arns=(DEPLOYER,)))
    entries = run.plan.of_type("aws:eks/accessEntry:AccessEntry")
    assert [e.inputs["principalArn"] for e in entries] == [DEPLOYER]
    assert entries[0].name != "cluster-deployer"


def test_the_creator_bootstrap_entry_is_off_and_left_alone_on_existing_clusters(dev):
    cluster = dev.plan.one(CLUSTER)
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    # Changing it forces a new cluster: a stack created with it true keeps its value.
    assert cluster.ignore_changes == ["accessConfig.bootstrapClusterCreatorAdminPermissions"]


def test_a_private_api_admits_the_runner_cidrs_and_security_groups_on_443(prod):
    cluster = prod.plan.one(CLUSTER)
    rules = prod.plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    sources = {(r.inputs.get("cidrIpv4"), r.inputs.get("referencedSecurityGroupId")) for r in rules}
    assert sources == {("10.30.0.0/16", None), (None, RUNNER_SG)}
    for rule in rules:
        assert rule.inputs["securityGroupId"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443, 443)
    assert not _run(dataclasses.replace(PROD, private_access_cidrs=(), private_access_security_group_ids=())).plan.of_type(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    )


def test_the_kubernetes_provider_waits_for_the_way_in_and_the_admin_entry(prod):
    provider = prod.plan.one("pulumi:providers:kubernetes")
    waited = _names(prod, provider.dependencies)
    assert "cluster-deployer-cluster-admin" in waited
    assert {"cluster-api-from-10-30-0-0-16", f"cluster-api-from-{RUNNER_SG}"} <= waited


# --- Protection and replacement --------------------------------------------------------------


def test_deletion_protection_also_protects_the_cluster_its_key_and_logs_from_pulumi_destroy(dev, prod):
    protected = {r.type for r in prod.plan.resources if r.protect}
    assert protected == {CLUSTER, "aws:kms/key:Key", "aws:cloudwatch/logGroup:LogGroup"}
    assert not [r.name for r in dev.plan.resources if r.protect]


def test_resources_with_fixed_names_are_deleted_before_they_are_replaced(dev):
    for type_token in (CLUSTER, ADDON, "aws:eks/accessEntry:AccessEntry"):
        for resource in dev.plan.of_type(type_token):
            assert resource.delete_before_replace, resource.name


def test_zonal_shift_is_on(dev):
    assert dev.plan.one(CLUSTER).inputs["zonalShiftConfig"] == {"enabled": True}


# --- Nodes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("run_name, version", [("dev", "1.36"), ("prod", "1.35")])
def test_node_groups_follow_the_control_plane_on_the_pinned_ami_release(run_name, version, request):
    run = request.getfixturevalue(run_name)
    assert run.plan.one(CLUSTER).inputs["version"] == version
    for group in run.plan.of_type(NODE_GROUP):
        assert group.inputs["version"] == version
        assert group.inputs["releaseVersion"] == AMI_RELEASE_VERSIONS[version][AmiType(group.inputs["amiType"])]
        assert group.inputs["releaseVersion"].startswith(f"{version}.")
        assert group.inputs["nodeRepairConfig"] == {"enabled": True}


def test_a_version_without_pinned_ami_releases_is_refused_by_the_args():
    with pytest.raises(ValueError, match=r"^kubernetes_version: no AMI release pinned for Kubernetes '1.31' and AL2023_x86_64_"):
        dataclasses.replace(DEV, kubernetes_version="1.31")


def test_gpu_nodes_carry_the_autoscaler_gpu_model_label_and_its_template_tag(dev):
    assert dev.plan.one(NODE_GROUP, "cluster-gpu").inputs["labels"]["k8s.amazonaws.com/accelerator"] == "nvidia-l4"
    assert _asg_tags(dev, "gpu")[f"{TEMPLATE}/label/k8s.amazonaws.com/accelerator"] == "nvidia-l4"
    assert "k8s.amazonaws.com/accelerator" not in dev.plan.one(NODE_GROUP, "cluster-cpu").inputs["labels"]


# --- Ordering --------------------------------------------------------------------------------


def _irsa_attachments(run) -> set[str]:
    return {r.name for r in run.plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if "-irsa-" in r.name}


def test_addons_and_nodes_wait_for_the_irsa_permissions_not_just_the_roles(dev):
    attachments = _irsa_attachments(dev)
    assert attachments == {"cluster-vpc-cni-irsa-AmazonEKS_CNI_Policy", "cluster-aws-ebs-csi-driver-irsa-AmazonEBSCSIDriverPolicy"}
    for addon in ("cluster-vpc-cni", "cluster-aws-ebs-csi-driver"):
        assert attachments <= _names(dev, dev.plan.one(ADDON, addon).dependencies), addon
    for group in dev.plan.of_type(NODE_GROUP):
        assert "cluster-vpc-cni-irsa-AmazonEKS_CNI_Policy" in _names(dev, group.dependencies), group.name
