"""The whole program per stack, for what a first real `pulumi up` and `pulumi destroy` meet
(issue 12): what deletion protection protects, who owns the account's registry scanning, the
deployer's access, the order the in-cluster add-ons come up in, and the settings net that runs
before anything is declared."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from mlserve.offline import engine
from mlserve.stack.settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]
SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"


def test_prod_protects_the_cluster_network_keys_repository_and_logs_from_pulumi_destroy(built_plan):
    prod = built_plan("prod")
    protected = {(r.type, r.name) for r in prod.resources if r.protect}
    assert protected == {
        ("aws:eks/cluster:Cluster", "cluster-eks"),
        ("aws:ec2/vpc:Vpc", "network-vpc"),
        ("aws:ecr/repository:Repository", "registry-repository"),
        ("aws:kms/key:Key", "cluster-secrets-key"),
        ("aws:kms/key:Key", "network-flow-logs-key"),
        ("aws:kms/key:Key", "registry-key"),
        ("aws:kms/key:Key", "alarms-key"),
        ("aws:kms/key:Key", "sagemaker-key"),
        ("aws:cloudwatch/logGroup:LogGroup", "sagemaker-logs"),
        ("aws:kms/key:Key", "monitoring-logs-key"),
        ("aws:cloudwatch/logGroup:LogGroup", "monitoring-performance"),
        ("aws:cloudwatch/logGroup:LogGroup", "monitoring-prometheus"),
        ("aws:cloudwatch/logGroup:LogGroup", "monitoring-application"),
        ("aws:cloudwatch/logGroup:LogGroup", "monitoring-dataplane"),
        ("aws:cloudwatch/logGroup:LogGroup", "monitoring-host"),
        ("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs"),
        ("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs"),
        ("aws:kms/key:Key", "model-store-key"),
        ("aws:s3/bucket:Bucket", "model-store-bucket"),
        ("aws:s3/bucket:Bucket", "model-store-logs"),
        ("aws:cloudtrail/trail:Trail", "model-store-trail"),
    }
    # Every key of the stack is among them: none is left for destroy to schedule for deletion.
    assert {r.name for r in prod.of_type("aws:kms/key:Key")} <= {name for _, name in protected}


def test_dev_without_deletion_protection_protects_nothing(built_plan):
    assert [r.name for r in built_plan("dev").resources if r.protect] == []


def test_one_stack_owns_the_accounts_registry_scanning_and_it_covers_both_repositories(built_plan):
    dev, prod = built_plan("dev"), built_plan("prod")
    assert dev.of_type(SCANNING) == [], "two stacks in one account would overwrite each other's configuration"
    [scanning] = prod.of_type(SCANNING)
    assert scanning.inputs["scanType"] == "BASIC"
    [rule] = scanning.inputs["rules"]
    assert rule["scanFrequency"] == "SCAN_ON_PUSH"
    [repository_filter] = rule["repositoryFilters"]
    assert repository_filter["filterType"] == "WILDCARD"
    for plan in (dev, prod):
        name = plan.one("aws:ecr/repository:Repository").inputs["name"]
        assert fnmatch.fnmatchcase(name, repository_filter["filter"]), name


def test_resources_with_fixed_names_are_deleted_before_they_are_replaced(built_plan):
    plan = built_plan("prod")
    fixed = [*plan.of_type("aws:ecr/repository:Repository"), *plan.of_type("aws:cloudwatch/logGroup:LogGroup"),
             *plan.of_type("aws:eks/cluster:Cluster"), *plan.of_type("aws:eks/addon:Addon"),
             *plan.of_type("aws:eks/accessEntry:AccessEntry")]
    assert len(fixed) >= 9
    assert [r.name for r in fixed if not r.delete_before_replace] == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_deployer_is_cluster_admin_through_an_explicit_entry(stack, built_plan):
    plan = built_plan(stack)
    entry = plan.one("aws:eks/accessEntry:AccessEntry", "cluster-deployer")
    assert entry.inputs["principalArn"] == f"arn:aws:iam::{engine.FAKE_ACCOUNT_ID}:role/{engine.FAKE_DEPLOY_ROLE}"
    access = plan.one("aws:eks/cluster:Cluster").inputs["accessConfig"]
    assert access["bootstrapClusterCreatorAdminPermissions"] is False


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_helm_addons_wait_for_coredns_and_the_nodes(stack, built_plan):
    """Children register only after their component, and the component only after what it
    depends on has been created: the Helm releases start once CoreDNS answers."""
    plan = built_plan(stack)
    names = {r.urn: r.name for r in plan.resources}
    # The mesh comes first (its load balancer controller's webhook sees every later Service), once
    # the nodes run and CoreDNS answers; the add-ons component waits for the controller too.
    mesh, addons = plan.one("mlserve:mesh:Mesh"), plan.one("mlserve:cluster:ClusterAddons")
    for component in (mesh, addons):
        assert {"cluster-coredns", "cluster-cpu", "cluster-gpu"} <= {names[urn] for urn in component.dependencies}
    assert "mesh-lb-controller" in {names[urn] for urn in addons.dependencies}
    # Every other release (metrics, KEDA, Flagger) belongs to a component that waits for the add-ons or the mesh.
    components = {r.urn: r for r in plan.resources if not r.custom}
    addon_children, mesh_children = {r.urn for r in plan.children(addons.urn)}, {r.urn for r in plan.children(mesh.urn)}
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        if release.parent in (addons.urn, mesh.urn):
            continue
        waits = set(components[release.parent].dependencies)
        assert addon_children <= waits or mesh_children <= waits, f"{release.name} may start before CoreDNS and the nodes"


def test_a_value_only_a_component_rejects_declares_nothing():
    """Duplicated adminRoleArns pass the settings loader but not ClusterArgs: __main__.py runs the
    component-rule net before declaring anything, so nothing is half-created."""
    config = engine.stack_config(ROOT / "Pulumi.prod.yaml")
    cluster = json.loads(config["mlserve:cluster"])
    admin = "arn:aws:iam::111122223333:role/platform-admins"
    cluster["adminRoleArns"] = [admin, admin]
    config["mlserve:cluster"] = json.dumps(cluster)
    recorded = engine.Plan(stack="prod")
    with pytest.raises(SettingsError, match=r"Pulumi\.prod\.yaml:\n  - mlserve: admin_role_arns: each an IAM role or user ARN, at most once"):
        engine.run_program(ROOT / "__main__.py", stack="prod", config=config, plan=recorded)
    assert recorded.resources == [], "the component-rule net must run before any resource is declared"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_node_groups_follow_the_control_plane_and_gpu_pools_name_their_gpu_model(stack, built_plan):
    plan = built_plan(stack)
    version = plan.one("aws:eks/cluster:Cluster").inputs["version"]
    groups = plan.of_type("aws:eks/nodeGroup:NodeGroup")
    for group in groups:
        assert group.inputs["version"] == version
        assert group.inputs["releaseVersion"].startswith(f"{version}.0-"), group.name
    [gpu] = [g for g in groups if "NVIDIA" in g.inputs["amiType"]]
    model = gpu.inputs["labels"]["k8s.amazonaws.com/accelerator"]
    assert model == "nvidia-l4"
    asg = gpu.outputs["resources"][0]["autoscalingGroups"][0]["name"]
    tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in plan.of_type("aws:autoscaling/tag:Tag")
            if t.inputs["autoscalingGroupName"] == asg}
    assert tags["k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator"] == model
