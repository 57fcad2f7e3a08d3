"""The settings loader: both stack files parse, and each bad value gives one clear error
that names the key, the value, what is allowed and the stack file."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mlserve.offline import engine
from mlserve.stack.settings import Settings, SettingsError, parse

ROOT = Path(__file__).resolve().parents[2]


def stack_values(stack: str) -> dict:
    """The stack file's mlserve: keys, decoded to plain Python values for editing ("prod-manual":
    prod with a weighted canary, tests/stack/conftest.py MANUAL_PROD)."""
    from tests.stack.conftest import MANUAL_PROD, to_manual

    raw = engine.stack_config(ROOT / f"Pulumi.{'prod' if stack == MANUAL_PROD else stack}.yaml")
    values = {k: json.loads(v) if v[:1] in "[{" else v for k, v in raw.items()}
    return to_manual(values) if stack == MANUAL_PROD else values


def as_config(values: dict) -> dict[str, str]:
    return {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in values.items()}


def problems_for(edit, stack: str = "dev") -> list[str]:
    values = copy.deepcopy(stack_values(stack))
    edit(values)
    with pytest.raises(SettingsError) as caught:
        parse(as_config(values), stack_file=f"Pulumi.{stack}.yaml")
    assert str(caught.value).splitlines()[0].endswith(f"in Pulumi.{stack}.yaml:")
    return caught.value.problems


def test_dev_is_small_and_cheap():
    settings = parse(as_config(stack_values("dev")), stack_file="Pulumi.dev.yaml")
    assert settings.network.nat_gateways == "single"
    assert any(p.capacity_type == "spot" and not p.gpu for p in settings.node_pools)
    gpu_pools = [p for p in settings.node_pools if p.gpu]
    assert gpu_pools and all(p.min_size == 0 for p in gpu_pools), "dev GPU pool must scale to zero"
    assert settings.registry.force_delete is True


def test_prod_is_highly_available():
    settings = parse(as_config(stack_values("prod")), stack_file="Pulumi.prod.yaml")
    assert settings.network.nat_gateways == "one-per-az"
    assert len(settings.network.availability_zones) == 3
    assert settings.cluster.endpoint_public_access is False
    assert settings.cluster.deletion_protection is True
    assert settings.registry.force_delete is False
    cpu_pools = [p for p in settings.node_pools if not p.gpu]
    assert cpu_pools and all(p.min_size >= 2 for p in cpu_pools)  # where prod's tracks run
    assert all(p.capacity_type == "on-demand" for p in settings.node_pools)


def test_dev_and_prod_set_the_same_keys():
    """dev and prod differ only in values (house style: aws-cdk-project-structure)."""
    dev, prod = stack_values("dev"), stack_values("prod")
    assert set(dev) == set(prod)
    for key in ("mlserve:network", "mlserve:tags"):
        assert set(dev[key]) == set(prod[key]), key


def test_min_greater_than_max():
    def edit(values):
        values["mlserve:nodePools"][0].update(minSize=5, desiredSize=5, maxSize=3)

    [problem] = problems_for(edit)
    assert problem.startswith("mlserve:nodePools[0] (name: cpu)")
    assert "minSize <= desiredSize <= maxSize, got 5 <= 5 <= 3" in problem


def test_unknown_instance_family():
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][0].update(instanceTypes=["x2idn.16xlarge"]))
    assert problem.startswith('mlserve:nodePools[0].instanceTypes = ["x2idn.16xlarge"]')
    assert "unknown instance family 'x2idn'" in problem and "m7i" in problem


@pytest.mark.parametrize("pool,typo,meant", [(0, "m7i.larg", "m7i.large"), (1, "g6.xlarg", "g6.xlarge")])
def test_an_instance_type_typo_names_the_key_and_the_real_type(pool, typo, meant):
    # Checked against the EC2 API's own list (botocore), for CPU and GPU pools alike.
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][pool].update(instanceTypes=[typo]))
    assert problem.startswith(f'mlserve:nodePools[{pool}].instanceTypes = ["{typo}"]: \'{typo}\' is not an EC2 instance type')
    assert f"did you mean '{meant}'" in problem
    assert "GPUS_PER_INSTANCE" not in problem


def test_gpu_pool_without_its_taint():
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][1].update(taints=[]))
    assert problem.startswith("mlserve:nodePools[1] (name: gpu)")
    assert "nvidia.com/gpu" in problem and "NoSchedule" in problem


def test_gpu_instances_in_a_pool_not_marked_gpu():
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][1].update(gpu=False, taints=[]))
    assert "are GPU instance types: set gpu: true" in problem


def test_five_availability_zones():
    zones = [f"us-west-2{c}" for c in "abcde"]
    [problem] = problems_for(lambda v: v["mlserve:network"].update(availabilityZones=zones))
    assert problem.startswith("mlserve:network.availabilityZones = [")
    assert "2 or 3 availability zones allowed" in problem and "got 5" in problem


@pytest.mark.parametrize(
    "cidr, expected",
    [("10.0.0.0/33", "not an IPv4 CIDR block"), ("10.0.0.1/16", "not an IPv4 CIDR block"),
     ("10.0.0.0/8", "/16 to /20"), ("8.8.0.0/16", "private range")],
)
def test_bad_vpc_cidr(cidr, expected):
    [problem] = problems_for(lambda v: v["mlserve:network"].update(vpcCidr=cidr))
    assert problem.startswith(f'mlserve:network.vpcCidr = "{cidr}"')
    assert expected in problem


def test_unknown_keys_top_level_and_nested():
    def edit(values):
        values["mlserve:colour"] = "red"
        values["mlserve:network"]["natGateway"] = "single"  # misspelled natGateways

    problems = problems_for(edit)
    top_level = ", ".join(field.alias for field in Settings.model_fields.values())
    assert top_level.startswith("region, tags, targets, network, cluster, nodePools, registry")
    assert f"mlserve:colour: unknown key (allowed here: {top_level})" in problems
    assert any(p.startswith("mlserve:network.natGateway: unknown key") and "natGateways" in p for p in problems)


def test_every_problem_is_reported_at_once():
    def edit(values):
        values["mlserve:network"]["vpcCidr"] = "nonsense"
        values["mlserve:cluster"]["kubernetesVersion"] = "1.20"
        values["mlserve:nodePools"][0]["capacityType"] = "cheap"
        del values["mlserve:tags"]["owner"]

    problems = problems_for(edit)
    assert len(problems) == 4
    joined = "\n".join(problems)
    assert "mlserve:cluster.kubernetesVersion = \"1.20\": Input should be '1.35' or '1.36'" in joined
    assert "mlserve:nodePools[0].capacityType = \"cheap\": Input should be 'on-demand' or 'spot'" in joined
    assert "mlserve:tags.owner: required, not set" in joined


def test_zones_outside_the_region():
    [problem] = problems_for(lambda v: v["mlserve:network"].update(availabilityZones=["eu-west-1a", "eu-west-1b"]))
    assert problem == 'mlserve:network.availabilityZones = ["eu-west-1a", "eu-west-1b"]: not in region us-west-2'


def test_public_endpoint_needs_cidrs_and_private_endpoint_refuses_them():
    [problem] = problems_for(lambda v: v["mlserve:cluster"].update(endpointPublicAccess=True))
    assert "endpointPublicAccess: true needs publicAccessCidrs" in problem
    [problem] = problems_for(lambda v: v["mlserve:cluster"].update(publicAccessCidrs=["10.0.0.0/8"]), stack="prod")
    assert "publicAccessCidrs is set but endpointPublicAccess is false" in problem


def test_force_delete_contradicts_deletion_protection():
    [problem] = problems_for(lambda v: v["mlserve:registry"].update(forceDelete=True), stack="prod")
    assert problem.startswith("mlserve:registry.forceDelete = true: contradicts cluster.deletionProtection")


def test_duplicate_pool_names():
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][1].update(name="cpu"))
    assert "pool names must be unique" in problem


def test_unknown_target():
    [problem] = problems_for(lambda v: v.update({"mlserve:targets": ["eks", "lambda"]}))
    assert problem.startswith('mlserve:targets[1] = "lambda"') and "'eks' or 'sagemaker'" in problem


def test_other_namespaces_are_ignored():
    values = stack_values("dev")
    values["aws:region"] = "us-west-2"
    parse(as_config(values), stack_file="Pulumi.dev.yaml")


def test_retention_must_be_a_cloudwatch_value():
    [problem] = problems_for(lambda v: v["mlserve:network"].update(flowLogsRetentionDays=10))
    assert problem.startswith("mlserve:network.flowLogsRetentionDays = 10: CloudWatch keeps logs for one of [1, 3, 5")


def test_a_system_pool_is_required_for_eks():
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][0].update(minSize=0, desiredSize=0))
    assert "need one CPU pool without taints and minSize >= 1" in problem


def test_labels_the_stack_sets_itself_are_refused():
    [problem] = problems_for(lambda v: v["mlserve:nodePools"][0].update(labels={"mlserve.io/node-pool": "x"}))
    assert problem.startswith("mlserve:nodePools[0].labels") and "set by the stack itself" in problem


def test_addon_version_overrides_are_checked():
    [problem] = problems_for(lambda v: v["mlserve:cluster"].update(addonVersions={"coredns": "latest", "istio": "v1.0.0-eksbuild.1"}))
    assert "unknown add-ons ['istio']" in problem


def test_settings_errors_end_pulumi_up_without_a_traceback():
    """The Pulumi runtime prints a RunError's message alone, not the Python stack."""
    import pulumi

    assert issubclass(SettingsError, pulumi.RunError)
