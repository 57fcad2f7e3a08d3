"""The cluster keys of the settings loader (issue 12): who may reach the API, the supported
Kubernetes versions and their tables, the upgrade policy, GPU pools. Each bad value gives one
problem naming the stack-file key."""

from __future__ import annotations

import pytest

from components.amis import AMI_RELEASE_VERSIONS, AmiType
from components.autoscaler import AUTOSCALER_IMAGE_TAGS
from components.managed_addons import DEFAULT_ADDON_VERSIONS, REQUIRED_ADDONS
from mlserve.stack.settings import parse
from mlserve.stack.settings.cluster import (
    DEFAULT_KUBERNETES_VERSION,
    KUBERNETES_VERSIONS,
    ClusterSettings,
)
from tests.k8s_schema import validate_manifest
from tests.stack.test_settings import as_config, problems_for, stack_values


def _public(values, cidrs):
    values["mlserve:cluster"].update(endpointPublicAccess=True, publicAccessCidrs=cidrs)


@pytest.mark.parametrize(
    "cidr, expected",
    [("203.0.113.0/24", "documentation range (203.0.113.0/24)"), ("198.51.100.64/26", "documentation range (198.51.100.0/24)"),
     ("192.0.2.1/32", "documentation range (192.0.2.0/24)"), ("0.0.0.0/0", "whole internet"), ("::/0", "whole internet")],
)
def test_public_access_refuses_documentation_ranges_and_the_internet(cidr, expected):
    [problem] = problems_for(lambda v: _public(v, ["198.18.7.0/24", cidr]))
    assert problem.startswith(f'mlserve:cluster.publicAccessCidrs = ["198.18.7.0/24", "{cidr}"]: ')
    assert expected in problem


def test_a_real_operator_range_is_accepted():
    values = stack_values("dev")
    _public(values, ["198.18.7.0/24"])
    assert parse(as_config(values), stack_file="Pulumi.dev.yaml").cluster.public_access_cidrs == ["198.18.7.0/24"]


def test_a_private_only_api_needs_a_way_in_for_the_deploy_runner():
    [problem] = problems_for(lambda v: v["mlserve:cluster"].update(privateAccessCidrs=[]), stack="prod")
    assert problem.startswith("mlserve:cluster")
    assert "privateAccessCidrs or privateAccessSecurityGroupIds" in problem


@pytest.mark.parametrize(
    "key, value, expected",
    [("privateAccessCidrs", ["0.0.0.0/0"], "not inside an RFC 1918 range"),
     ("privateAccessCidrs", ["10.30.0.0/16", "10.30.0.0/16"], "each value at most once"),
     ("privateAccessSecurityGroupIds", ["default"], "not a security group id")],
)
def test_private_access_values_are_checked(key, value, expected):
    [problem] = problems_for(lambda v: v["mlserve:cluster"].update({key: value}), stack="prod")
    assert problem.startswith(f"mlserve:cluster.{key} = ") and expected in problem


def test_the_newest_supported_version_is_the_default_and_both_stacks_run_it():
    assert DEFAULT_KUBERNETES_VERSION == KUBERNETES_VERSIONS[-1] == "1.36"
    assert ClusterSettings().kubernetes_version == DEFAULT_KUBERNETES_VERSION
    for stack in ("dev", "prod"):
        settings = parse(as_config(stack_values(stack)), stack_file=f"Pulumi.{stack}.yaml")
        assert settings.cluster.kubernetes_version == DEFAULT_KUBERNETES_VERSION


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_supported_version_has_its_tables_and_schemas(version):
    assert set(DEFAULT_ADDON_VERSIONS[version]) == set(REQUIRED_ADDONS)
    assert DEFAULT_ADDON_VERSIONS[version]["kube-proxy"].startswith(f"v{version}.")
    assert AUTOSCALER_IMAGE_TAGS[version].startswith(f"v{version}.")
    assert set(AMI_RELEASE_VERSIONS[version]) == set(AmiType)
    assert all(release.startswith(f"{version}.") for release in AMI_RELEASE_VERSIONS[version].values())
    # kubernetes-validate has this minor's schemas (it raises for a missing one rather than fall back).
    validate_manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, version)


def test_versions_out_of_standard_support_are_refused():
    [problem] = problems_for(lambda v: v["mlserve:cluster"].update(kubernetesVersion="1.34"))
    assert problem == "mlserve:cluster.kubernetesVersion = \"1.34\": Input should be '1.35' or '1.36'"


def test_upgrade_policy_is_chosen_per_stack():
    dev = parse(as_config(stack_values("dev")), stack_file="Pulumi.dev.yaml")
    prod = parse(as_config(stack_values("prod")), stack_file="Pulumi.prod.yaml")
    assert (dev.cluster.upgrade_policy, prod.cluster.upgrade_policy) == ("STANDARD", "EXTENDED")
    assert ClusterSettings().upgrade_policy == "EXTENDED"
    [problem] = problems_for(lambda v: v["mlserve:cluster"].update(upgradePolicy="AUTO"))
    assert problem.startswith('mlserve:cluster.upgradePolicy = "AUTO": ') and "'STANDARD' or 'EXTENDED'" in problem


def test_a_gpu_taint_with_the_right_key_and_a_wrong_effect_is_refused():
    def edit(values):
        values["mlserve:nodePools"][1]["taints"] = [{"key": "nvidia.com/gpu", "value": "true", "effect": "PreferNoSchedule"}]

    [problem] = problems_for(edit)
    assert problem.startswith("mlserve:nodePools[1] (name: gpu): a GPU pool needs the taint {key: nvidia.com/gpu")
    assert "effect: NoSchedule" in problem


def test_a_gpu_pool_mixing_gpu_models_is_refused():
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][1].update(instanceTypes=["g5.xlarge", "g6.xlarge"]))
    assert problem.startswith("mlserve:nodePools[1] (name: gpu): instance types carry different GPUs")
    assert "g5.xlarge has nvidia-a10g" in problem and "split it into pools" in problem


def test_only_one_stack_owns_registry_scanning():
    owners = [s for s in ("dev", "prod") if stack_values(s)["mlserve:registry"]["ownRegistryScanning"]]
    assert owners == ["prod"]
