"""The Cluster component under the offline engine: assert what the plan means, not how it is spelled."""

from __future__ import annotations

import dataclasses
import json

import pulumi
import pulumi_aws as aws
import pytest

from components.cluster import (
    DEFAULT_ADDON_VERSIONS,
    REQUIRED_ADDONS,
    Cluster,
    ClusterArgs,
    NodePoolArgs,
    Taint,
)
from components.managed_addons import addon_version_problem
from mlserve.offline import engine

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
ASG_TAG = "aws:autoscaling/tag:Tag"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"

SUBNETS = ["subnet-private-a", "subnet-private-b"]
ADMIN = "arn:aws:iam::111122223333:role/platform-admins"
GPU_TAINT = Taint(key="nvidia.com/gpu", value="true", effect="NO_SCHEDULE")
CPU_POOL = NodePoolArgs(name="cpu", instance_types=("m7i.large", "m6i.large"), capacity_type="SPOT",
                        min_size=1, desired_size=2, max_size=4)
GPU_POOL = NodePoolArgs(name="gpu", instance_types=("g6.xlarge", "g6.2xlarge"), capacity_type="ON_DEMAND",
                        min_size=0, desired_size=0, max_size=2, disk_size_gib=100, gpu=True, taints=(GPU_TAINT,))
DEV = ClusterArgs(
    cluster_name="mlserve-dev",
    kubernetes_version="1.36",
    vpc_id="vpc-0123",
    private_subnet_ids=SUBNETS,
    endpoint_public_access=True,
    public_access_cidrs=("198.18.7.0/24",),
    log_types=("api", "audit", "authenticator"),
    log_retention_days=7,
    admin_role_arns=(ADMIN,),
    node_pools=(CPU_POOL, GPU_POOL),
    addon_versions=DEFAULT_ADDON_VERSIONS["1.36"],
    tags={"environment": "dev", "cost-center": "ml-dev"},
    upgrade_support_type="STANDARD",
)
PROD = dataclasses.replace(
    DEV, cluster_name="mlserve-prod", kubernetes_version="1.35", endpoint_public_access=False, public_access_cidrs=(),
    private_access_cidrs=("10.30.0.0/16",), private_access_security_group_ids=("sg-0123456789abcdef0",),
    deletion_protection=True, admin_role_arns=(), upgrade_support_type="EXTENDED", addon_versions=DEFAULT_ADDON_VERSIONS["1.35"],
)


@dataclasses.dataclass
class Run:
    plan: engine.Plan
    options: dict[str, pulumi.ResourceOptions]  # resource name -> the options it was declared with

    def depends_on(self, name: str) -> set[str]:
        return {resource._name for resource in self.options[name].depends_on or []}


def _run(args: ClusterArgs) -> Run:
    options: dict[str, pulumi.ResourceOptions] = {}

    def record(transform: pulumi.ResourceTransformationArgs) -> None:
        # Options (depends_on, ignore_changes) never reach the mock monitor's inputs; a
        # transformation sees them as declared.
        options[transform.name] = transform.opts

    def program() -> None:
        provider = aws.Provider("aws", region="us-west-2")
        cluster = Cluster("cluster", args, opts=pulumi.ResourceOptions(providers=[provider], transformations=[record]))
        for output in ("oidc_issuer", "oidc_provider_arn", "region", "cluster_security_group_id", "node_group_names"):
            pulumi.export(output, getattr(cluster, output))

    return Run(engine.run(program, stack="dev", config={"mlserve:region": "us-west-2"}), options)


@pytest.fixture(scope="module")
def dev() -> Run:
    return _run(DEV)


@pytest.fixture(scope="module")
def prod() -> Run:
    return _run(PROD)


def cluster_inputs(run: Run) -> dict:
    return run.plan.one(CLUSTER).inputs


def node_group(run: Run, pool: str):
    return run.plan.one(NODE_GROUP, f"cluster-{pool}")


def launch_template(run: Run, pool: str):
    return run.plan.one(LAUNCH_TEMPLATE, f"cluster-{pool}-lt")


# --- Control plane ---------------------------------------------------------------------------


def test_control_plane_logs_the_configured_types_to_a_retained_group_created_first(dev):
    assert cluster_inputs(dev)["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    group = dev.plan.one("aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/aws/eks/mlserve-dev/cluster"
    assert group.inputs["retentionInDays"] == 7
    assert group.name in dev.depends_on("cluster-eks"), "EKS would create its own log group, kept forever"


def test_secrets_are_encrypted_with_the_components_own_rotating_key(dev):
    key = dev.plan.one("aws:kms/key:Key")
    encryption = cluster_inputs(dev)["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    assert dev.plan.one("aws:kms/alias:Alias").inputs["targetKeyId"] == key.outputs["keyId"]


def test_control_plane_uses_only_the_private_subnets(dev):
    vpc = cluster_inputs(dev)["vpcConfig"]
    assert vpc["subnetIds"] == SUBNETS
    assert vpc["endpointPrivateAccess"] is True


def test_public_endpoint_is_limited_to_the_given_networks(dev):
    vpc = cluster_inputs(dev)["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["198.18.7.0/24"]


def test_private_cluster_has_no_public_endpoint_and_no_cidrs(prod):
    vpc = cluster_inputs(prod)["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False
    assert not vpc.get("publicAccessCidrs")


def test_access_goes_through_access_entries_only(dev):
    access = cluster_inputs(dev)["accessConfig"]
    # No hidden bootstrap entry for the creator: the caller gets an explicit one (test below).
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}


def test_admin_principals_get_cluster_admin_through_access_entries(dev, prod):
    entry = dev.plan.one("aws:eks/accessEntry:AccessEntry", "cluster-admin-111122223333-platform-admins")
    association = dev.plan.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", f"{entry.name}-cluster-admin")
    assert entry.inputs["principalArn"] == association.inputs["principalArn"] == ADMIN
    assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert association.inputs["accessScope"] == {"type": "cluster"}
    assert entry.name in dev.depends_on(association.name)
    # prod lists no admins: only the deployer's entry.
    assert [e.name for e in prod.plan.of_type("aws:eks/accessEntry:AccessEntry")] == ["cluster-deployer"]


def test_deletion_protection_follows_the_args(dev, prod):
    assert cluster_inputs(dev)["deletionProtection"] is False
    assert cluster_inputs(prod)["deletionProtection"] is True


def test_version_addons_and_upgrade_policy(dev, prod):
    assert cluster_inputs(dev)["version"] == "1.36"
    assert cluster_inputs(prod)["version"] == "1.35"
    assert cluster_inputs(dev)["bootstrapSelfManagedAddons"] is False, "unmanaged add-on copies would shadow the pinned ones"
    assert cluster_inputs(dev)["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster_inputs(prod)["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_cluster_role_trusts_eks_and_has_the_cluster_policy(dev):
    role = dev.plan.one(ROLE, "cluster-cluster-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    assert cluster_inputs(dev)["roleArn"] == role.outputs["arn"]
    assert _policies_of(dev, role) == {"AmazonEKSClusterPolicy"}


# --- IRSA and add-ons ------------------------------------------------------------------------


def test_oidc_provider_trusts_the_clusters_issuer_for_sts(dev):
    cluster = dev.plan.one(CLUSTER)
    issuer = cluster.outputs["identities"][0]["oidcs"][0]["issuer"]
    provider = dev.plan.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == issuer
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert dev.plan.exports["oidc_issuer"] == issuer.removeprefix("https://")
    assert dev.plan.exports["oidc_provider_arn"] == provider.outputs["arn"]


@pytest.mark.parametrize("run_name, args", [("dev", DEV), ("prod", PROD)])
def test_every_addon_is_pinned_to_the_given_version(run_name, args, request):
    run = request.getfixturevalue(run_name)
    addons = {a.inputs["addonName"]: a.inputs for a in run.plan.of_type(ADDON)}
    assert set(addons) == set(REQUIRED_ADDONS)
    for name, inputs in addons.items():
        assert inputs["addonVersion"] == args.addon_versions[name]
        assert inputs["resolveConflictsOnCreate"] == "OVERWRITE"
        assert inputs["resolveConflictsOnUpdate"] == "PRESERVE"


@pytest.mark.parametrize(
    "addon, service_account, policy",
    [("vpc-cni", "aws-node", "AmazonEKS_CNI_Policy"), ("aws-ebs-csi-driver", "ebs-csi-controller-sa", "AmazonEBSCSIDriverPolicy")],
)
def test_aws_calling_addons_run_with_an_irsa_role_for_their_service_account_only(dev, addon, service_account, policy):
    addon_inputs = next(a.inputs for a in dev.plan.of_type(ADDON) if a.inputs["addonName"] == addon)
    role = next(r for r in dev.plan.of_type(ROLE) if r.outputs["arn"] == addon_inputs["serviceAccountRoleArn"])
    statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    issuer = dev.plan.exports["oidc_issuer"]
    assert statement["Principal"] == {"Federated": dev.plan.exports["oidc_provider_arn"]}
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": f"system:serviceaccount:kube-system:{service_account}",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    assert _policies_of(dev, role) == {policy}


@pytest.mark.parametrize("run_name", ["dev", "prod"])
def test_the_vpc_cni_enforces_network_policies_and_other_addons_keep_their_defaults(run_name, request):
    """EKS accepts NetworkPolicy objects either way; only the CNI's policy agent enforces them."""
    addons = {a.inputs["addonName"]: a.inputs for a in request.getfixturevalue(run_name).plan.of_type(ADDON)}
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert all("configurationValues" not in inputs for name, inputs in addons.items() if name != "vpc-cni")


def test_networking_addons_precede_nodes_and_dns_and_storage_follow_them(dev):
    node_groups = {"cluster-cpu", "cluster-gpu"}
    for group in node_groups:
        assert {"cluster-vpc-cni", "cluster-kube-proxy"} <= dev.depends_on(group), "nodes never turn Ready without a CNI"
    for addon in ("cluster-coredns", "cluster-aws-ebs-csi-driver"):
        assert node_groups <= dev.depends_on(addon), "their pods need nodes to turn healthy"


# --- Node pools ------------------------------------------------------------------------------


def test_gpu_pool_runs_the_nvidia_ami_tainted_and_labelled(dev):
    group = node_group(dev, "gpu").inputs
    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in group["taints"]
    assert group["labels"]["mlserve.io/accelerator"] == "nvidia"
    assert group["labels"]["nvidia.com/gpu.present"] == "true"


def test_cpu_pool_runs_the_standard_ami_without_the_gpu_taint(dev):
    group = node_group(dev, "cpu").inputs
    assert group["amiType"] == "AL2023_x86_64_STANDARD"
    assert not any(t["key"] == "nvidia.com/gpu" for t in group.get("taints", []))
    assert "mlserve.io/accelerator" not in group["labels"]


def test_capacity_type_and_sizes_follow_the_pool(dev):
    cpu, gpu = node_group(dev, "cpu").inputs, node_group(dev, "gpu").inputs
    assert cpu["capacityType"] == "SPOT" and gpu["capacityType"] == "ON_DEMAND"
    assert cpu["instanceTypes"] == ["m7i.large", "m6i.large"]
    assert gpu["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 2}
    assert cpu["subnetIds"] == SUBNETS


def test_autoscaler_owns_the_desired_size_after_creation(dev):
    for pool in ("cpu", "gpu"):
        assert "scalingConfig.desiredSize" in (dev.options[f"cluster-{pool}"].ignore_changes or [])


@pytest.mark.parametrize("pool, disk", [("cpu", 50), ("gpu", 100)])
def test_nodes_use_imdsv2_unreachable_from_pods_and_an_encrypted_gp3_root(dev, pool, disk):
    template = launch_template(dev, pool)
    assert template.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
    (root,) = template.inputs["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda"
    assert root["ebs"]["volumeType"] == "gp3" and root["ebs"]["encrypted"] == "true"
    assert root["ebs"]["volumeSize"] == disk
    assert "imageId" not in template.inputs and "userData" not in template.inputs, "EKS must supply the AMI of amiType"
    assert node_group(dev, pool).inputs["launchTemplate"]["id"] == template.id


def test_instances_and_volumes_carry_the_common_tags(dev):
    specs = {s["resourceType"]: s["tags"] for s in launch_template(dev, "gpu").inputs["tagSpecifications"]}
    expected = {"environment": "dev", "cost-center": "ml-dev", "Name": "mlserve-dev-gpu"}
    assert specs == {"instance": expected, "volume": expected}


def test_node_groups_and_their_asgs_are_discoverable_by_the_autoscaler(dev):
    discovery = {"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/mlserve-dev": "owned"}
    for pool in ("cpu", "gpu"):
        assert discovery.items() <= node_group(dev, pool).inputs["tags"].items()
        assert discovery.items() <= _asg_tags(dev, pool).items()


def test_gpu_asg_tells_the_autoscaler_how_to_scale_up_from_zero(dev):
    tags = _asg_tags(dev, "gpu")
    assert tags[f"{TEMPLATE}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags[f"{TEMPLATE}/resources/nvidia.com/gpu"] == "1"
    assert tags[f"{TEMPLATE}/label/mlserve.io/accelerator"] == "nvidia"
    assert tags[f"{TEMPLATE}/label/nvidia.com/gpu.present"] == "true"
    assert not any("/resources/" in key for key in _asg_tags(dev, "cpu"))


def test_node_role_has_only_node_permissions_cni_goes_through_irsa(dev):
    role = dev.plan.one(ROLE, "cluster-node-role")
    assert _policies_of(dev, role) == {
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore",
    }
    assert all(g.inputs["nodeRoleArn"] == role.outputs["arn"] for g in dev.plan.of_type(NODE_GROUP))


def test_node_group_names_are_exposed_per_pool(dev):
    assert set(dev.plan.exports["node_group_names"]) == {"cpu", "gpu"}


# --- Kubernetes access and shape -------------------------------------------------------------


def test_kubeconfig_gets_a_token_for_this_cluster_from_the_aws_cli(dev):
    provider = dev.plan.one("pulumi:providers:kubernetes")
    config = json.loads(provider.inputs["kubeconfig"])
    cluster = dev.plan.one(CLUSTER)
    assert config["clusters"][0]["cluster"]["server"] == cluster.outputs["endpoint"]
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:4] == ["eks", "get-token", "--cluster-name", "mlserve-dev"]
    assert exec_["args"][exec_["args"].index("--region") + 1] == "us-west-2" == dev.plan.exports["region"]
    assert provider.inputs.get("enableServerSideApply") in (None, True, "true")


def test_every_child_is_parented_to_the_component_and_uses_its_aws_provider(dev):
    component = dev.plan.one("mlserve:cluster:Cluster")
    aws_provider = dev.plan.one("pulumi:providers:aws")
    children = [r for r in dev.plan.resources if r not in (component, aws_provider)]
    assert children and all(r.parent == component.urn for r in children)
    assert all(r.provider.startswith(aws_provider.urn) for r in children if r.package == "aws")


# --- Args ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(public_access_cidrs=()), "public_access_cidrs"),
        (dict(endpoint_public_access=False), "public_access_cidrs"),
        (dict(public_access_cidrs=("198.18.7.7/24",)), "public_access_cidrs"),
        (dict(log_types=("api", "kubelet")), "log_types"),
        (dict(log_retention_days=10), "log_retention_days"),
        (dict(private_subnet_ids=["subnet-a"]), "private_subnet_ids"),
        (dict(admin_role_arns=("platform-admins",)), "admin_role_arns"),
        (dict(admin_role_arns=(ADMIN, ADMIN)), "admin_role_arns"),
        (dict(node_pools=(CPU_POOL, dataclasses.replace(GPU_POOL, name="cpu"))), "node_pools"),
        (dict(node_pools=(GPU_POOL,)), "node_pools"),
        (dict(node_pools=()), "node_pools"),
        (dict(addon_versions={k: v for k, v in DEFAULT_ADDON_VERSIONS["1.36"].items() if k != "coredns"}), "addon_versions"),
        (dict(addon_versions={**DEFAULT_ADDON_VERSIONS["1.36"], "metrics-server": "v0.8.0-eksbuild.1"}), "addon_versions"),
        (dict(addon_versions={**DEFAULT_ADDON_VERSIONS["1.36"], "coredns": "latest"}), "addon_versions"),
        (dict(cluster_name="mlserve dev"), "cluster_name"),
        (dict(kubernetes_version="1.36.1"), "kubernetes_version"),
    ],
)
def test_bad_args_are_rejected_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(DEV, **overrides)


@pytest.mark.parametrize("version", sorted(DEFAULT_ADDON_VERSIONS))
def test_default_addon_versions_pin_every_required_addon(version):
    assert addon_version_problem(DEFAULT_ADDON_VERSIONS[version]) is None


def test_args_copy_mutable_inputs():
    tags = {"environment": "dev"}
    args = dataclasses.replace(DEV, tags=tags)
    tags["environment"] = "prod"
    assert args.tags["environment"] == "dev"


# --- helpers ---------------------------------------------------------------------------------


def _policies_of(run: Run, role) -> set[str]:
    return {
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in run.plan.of_type(ATTACHMENT)
        if a.inputs["role"] == role.outputs["name"]
    }


def _asg_tags(run: Run, pool: str) -> dict[str, str]:
    asg = node_group(run, pool).outputs["resources"][0]["autoscalingGroups"][0]["name"]
    tags = [t.inputs for t in run.plan.of_type(ASG_TAG) if t.inputs["autoscalingGroupName"] == asg]
    assert all(t["tag"]["propagateAtLaunch"] is False for t in tags)
    return {t["tag"]["key"]: t["tag"]["value"] for t in tags}
