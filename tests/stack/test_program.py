"""The real __main__.py, run per stack under the offline engine: what matters holds for the
whole program, not just for each component in isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlserve.offline import engine
from mlserve.offline import plan as plan_cli
from mlserve.stack.settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["dev", "prod"])
def stack_plan(request, built_plan) -> engine.Plan:
    return built_plan(request.param)


@pytest.fixture
def prod(built_plan) -> engine.Plan:
    return built_plan("prod")


def test_program_declares_every_component(stack_plan):
    components = {r.type for r in stack_plan.resources if not r.custom}
    assert {"mlserve:registry:Registry", "mlserve:network:Network", "mlserve:cluster:Cluster"} <= components
    assert {"repository_url", "vpc_id", "cluster_name", "cluster_endpoint", "kubeconfig"} <= set(stack_plan.exports)
    assert stack_plan.exports["kubeconfig"] == "[secret]"


def test_every_aws_resource_goes_through_the_tagged_provider(stack_plan):
    provider = stack_plan.one("pulumi:providers:aws", "aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags == {"environment": stack_plan.stack, "owner": "ml-platform", "cost-center": f"ml-{stack_plan.stack}"}
    assert provider.inputs["region"] == "us-west-2"
    aws_resources = [r for r in stack_plan.resources if r.type.startswith("aws:")]
    assert aws_resources
    strays = [r.name for r in aws_resources if not r.provider.startswith(provider.urn)]
    assert strays == [], f"AWS resources on the default provider miss the default tags: {strays}"


def test_cluster_endpoint_is_private_and_the_deploy_runner_has_a_way_in(stack_plan):
    """A private-only API is reached by `pulumi up` from a runner inside the VPC: HTTPS into the
    cluster security group from the VPC's block (the stack file's privateAccessCidrs)."""
    cluster = stack_plan.one("aws:eks/cluster:Cluster")
    vpc_config = cluster.inputs["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is False
    [rule] = stack_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["securityGroupId"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
    assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 443, 443)
    assert rule.inputs["cidrIpv4"] == stack_plan.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
    # The Kubernetes provider (and every Helm release behind it) waits for the way in.
    assert rule.urn in stack_plan.one("pulumi:providers:kubernetes").dependencies


def test_prod_is_protected_and_highly_available(prod):
    cluster = prod.one("aws:eks/cluster:Cluster")
    assert cluster.inputs["deletionProtection"] is True
    assert prod.one("aws:ecr/repository:Repository").inputs.get("forceDelete") in (False, None)
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 3
    zones = {s.inputs["availabilityZone"] for s in prod.of_type("aws:ec2/subnet:Subnet")}
    assert zones == {"us-west-2a", "us-west-2b", "us-west-2c"}
    groups = prod.of_type("aws:eks/nodeGroup:NodeGroup")
    for group in groups:
        assert group.inputs["capacityType"] == "ON_DEMAND"
        assert len(group.inputs["subnetIds"]) == 3, "nodes must be able to spread across the AZs"
    # The serving tracks run on the CPU pool (a tree model); the GPU pool idles at zero for a GPU model.
    minimum = {"NVIDIA" in g.inputs["amiType"]: g.inputs["scalingConfig"]["minSize"] for g in groups}
    assert minimum[False] >= 2 and minimum[True] == 0


def test_dev_gpu_pool_scales_to_zero(built_plan):
    dev = built_plan("dev")
    gpu_groups = [g for g in dev.of_type("aws:eks/nodeGroup:NodeGroup") if "NVIDIA" in g.inputs["amiType"]]
    assert [g.inputs["scalingConfig"]["minSize"] for g in gpu_groups] == [0]
    assert len(dev.of_type("aws:ec2/natGateway:NatGateway")) == 1


def test_bad_settings_declare_nothing():
    config = engine.stack_config(ROOT / "Pulumi.dev.yaml")
    pools = json.loads(config["mlserve:nodePools"])
    pools[0]["minSize"] = 9
    config["mlserve:nodePools"] = json.dumps(pools)
    recorded = engine.Plan(stack="dev")
    with pytest.raises(SettingsError, match=r"mlserve:nodePools\[0\] \(name: cpu\)"):
        engine.run_program(ROOT / "__main__.py", stack="dev", config=config, plan=recorded)
    assert recorded.resources == [], "settings must be validated before any resource is declared"


def test_program_also_runs_as_a_preview():
    """`pulumi preview` runs with unknown outputs and no apply callbacks: it must not crash."""
    config = engine.stack_config(ROOT / "Pulumi.prod.yaml")
    plan = engine.run_program(ROOT / "__main__.py", stack="prod", config=config, preview=True)
    assert plan.of_type("aws:eks/cluster:Cluster")


def test_make_preview_prints_the_tree_and_writes_json(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert plan_cli.main(["--stack", "dev", "--json-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "+ mlserve:cluster:Cluster  cluster" in printed
    assert "amiType=AL2023_x86_64_NVIDIA" in printed
    assert "resources to create" in printed
    written = json.loads(out.read_text())
    assert written["stack"] == "dev"
    assert written["summary"]["total"] == len(written["resources"]) > 50
    assert {r["type"] for r in written["resources"]} >= {"aws:eks/cluster:Cluster", "aws:ecr/repository:Repository"}


def test_make_preview_fails_with_the_settings_error(monkeypatch, capsys):
    bad = engine.stack_config(ROOT / "Pulumi.dev.yaml") | {"mlserve:colour": "red"}
    monkeypatch.setattr(engine, "stack_config", lambda path: bad)
    assert plan_cli.main(["--stack", "dev"]) == 2
    error = capsys.readouterr().err
    assert "1 invalid setting(s) in Pulumi.dev.yaml" in error and "mlserve:colour: unknown key" in error


def test_make_preview_names_the_stacks_when_one_is_missing(capsys):
    assert plan_cli.main(["--stack", "staging"]) == 2
    assert "Pulumi.dev.yaml" in capsys.readouterr().err


def test_engine_answers_the_data_sources_it_fakes_and_refuses_others(run_pulumi):
    import pulumi
    import pulumi_aws as aws

    def program():
        pulumi.export("account", aws.get_caller_identity_output().account_id)
        pulumi.export("partition", aws.get_partition_output().partition)

    assert run_pulumi(program).exports == {"account": engine.FAKE_ACCOUNT_ID, "partition": "aws"}
    with pytest.raises(Exception, match="no fake for data source aws:ec2/getAmi:getAmi"):
        run_pulumi(lambda: aws.ec2.get_ami_output(owners=["amazon"], most_recent=True))


def test_engine_runs_after_asyncio_run_closed_the_loop(run_pulumi):
    """A server or test that used asyncio.run earlier in the process must not break plans."""
    import asyncio

    import pulumi

    async def nothing():
        return None

    asyncio.run(nothing())
    assert run_pulumi(lambda: pulumi.export("answer", 42)).exports == {"answer": 42}


def test_the_printed_plan_is_the_same_on_every_run():
    first, second = (plan_cli.render_tree(plan_cli.build("prod")) for _ in range(2))
    assert first == second
    assert plan_cli.to_json(plan_cli.build("prod"))["resources"] == plan_cli.to_json(plan_cli.build("prod"))["resources"]
