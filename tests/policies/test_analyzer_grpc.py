"""The pack on the real path: `policies/__main__.py` started as the Pulumi CLI starts an analyzer (a
process in the pack's directory that prints its gRPC port), then called over gRPC with Pulumi's own
analyzer stubs, the way `pulumi preview --policy-pack policies --policy-pack-config ...` calls it:
GetAnalyzerInfo, Configure with the environment's config, Analyze per resource of the prod plan,
AnalyzeStack once. What it answers must be what the offline run (mlserve/offline/pack.py) says of
the same plan; and where a value is unknown (a preview before the resource exists) the real
analyzer skips the rule with an advisory, which the offline run never meets (its mocks resolve
every value)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2
from pulumi.runtime.rpc import UNKNOWN

from mlserve.offline import engine
from mlserve.offline import pack as offline
from policies import all_rules
from tests.conftest import ROOT
from tests.stack.conftest import built_plan  # noqa: F401 (the cached whole-program plans)

LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "remediate": analyzer_pb2.REMEDIATE, "disabled": analyzer_pb2.DISABLED}
NAMES = {value: name for name, value in LEVELS.items()}


@pytest.fixture(scope="module")
def analyzer():
    """The pack's entry point as its own process; a stub on the port it printed."""
    process = subprocess.Popen([sys.executable, "-u", "__main__.py"], cwd=ROOT / "policies",
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(process.stdout.readline().decode().strip() or 0)
        assert port, f"the analyzer printed no port: {process.stderr.read().decode()[-2000:]}"
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(value, default=str)))
    return struct


def _configure(stub, env: str) -> dict:
    """What the CLI sends for `--policy-pack-config policies/config/<env>.json`: every rule's level, resolved."""
    rules = all_rules()
    config = offline.load_config(offline.CONFIG_DIR / f"{env}.json", rules)
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        rule.name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[offline._level(rule, config).value],
                                             properties=_struct(offline._rule_config(rule, config)))
        for rule in rules}))
    return config


def _provider(resource: engine.RecordedResource, by_urn: dict) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = by_urn.get(resource.provider.rsplit("::", 1)[0]) if resource.provider else None
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(type=provider.type, properties=_struct(provider.inputs), urn=provider.urn,
                                                 name=provider.name)


def _options(resource: engine.RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect, ignoreChanges=resource.ignore_changes,
                                                deleteBeforeReplace=resource.delete_before_replace,
                                                deleteBeforeReplaceDefined=True, parent=resource.parent)


def _judge(stub, plan: engine.Plan) -> tuple[set, list]:
    """Every (rule, level, urn) the analyzer reports for a plan, and all diagnostics."""
    by_urn = {r.urn: r for r in plan.resources}
    found, diagnostics = set(), []
    for resource in plan.resources:  # a resource's diagnostics carry no URN: the engine knows whose they are
        answer = stub.Analyze(analyzer_pb2.AnalyzeRequest(
            type=resource.type, properties=_struct(resource.inputs), urn=resource.urn, name=resource.name,
            options=_options(resource), provider=_provider(resource, by_urn))).diagnostics
        found |= {(d.policyName, NAMES[d.enforcementLevel], d.urn or resource.urn) for d in answer}
        diagnostics += answer
    answer = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r.type, properties=_struct(r.outputs), urn=r.urn, name=r.name, options=_options(r),
                                      provider=_provider(r, by_urn), parent=r.parent, dependencies=r.dependencies,
                                      # which resource each input came from, as the engine sends it (AnalyzeStack)
                                      propertyDependencies={key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                                                            for key, urns in r.property_dependencies.items()})
        for r in plan.resources])).diagnostics
    found |= {(d.policyName, NAMES[d.enforcementLevel], d.urn or None) for d in answer}
    return found, diagnostics + list(answer)


def _offline(plan: engine.Plan, config: dict) -> set:
    return {(v.rule, v.level, v.urn) for v in offline.check(plan, config).violations}


def _changed(plan: engine.Plan, name: str, inputs: dict) -> engine.Plan:
    resources = [dataclasses.replace(r, inputs={**r.inputs, **inputs}, outputs={**r.outputs, **inputs}) if r.name == name else r
                 for r in plan.resources]
    return dataclasses.replace(plan, resources=resources)


def test_the_entry_point_loads_and_describes_the_whole_pack(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "mlserve" and info.supportsConfig
    assert [p.name for p in info.policies] == [r.name for r in all_rules()]
    assert {p.enforcementLevel for p in info.policies} <= {analyzer_pb2.MANDATORY, analyzer_pb2.ADVISORY}
    assert isinstance(analyzer.GetPluginInfo(empty_pb2.Empty()), plugin_pb2.PluginInfo)


def test_over_grpc_the_prod_plan_passes_as_it_does_offline(analyzer, built_plan):
    plan = built_plan("prod")
    config = _configure(analyzer, "prod")
    found, _ = _judge(analyzer, plan)
    assert found == _offline(plan, config) == set()


def test_over_grpc_bad_resources_are_refused_as_offline(analyzer, built_plan):
    plan = _changed(built_plan("prod"), "registry-repository", {"imageTagMutability": "MUTABLE"})
    plan = _changed(plan, "cluster-gpu", {"capacityType": "SPOT"})
    config = _configure(analyzer, "prod")
    found, _ = _judge(analyzer, plan)
    assert {rule for rule, _, _ in found} >= {"ecr-immutable-tags", "no-spot-gpu-pools"}
    assert found == _offline(plan, config)


def test_an_unknown_value_skips_the_rule_with_an_advisory_over_grpc(analyzer, built_plan):
    """In a real preview a value computed by the cloud is unknown until the resource exists; the
    analyzer's proxy stops the rule and says so as an advisory, and the rule judges at `up`."""
    _configure(analyzer, "prod")
    plan = _changed(built_plan("prod"), "registry-repository", {"imageTagMutability": UNKNOWN})
    repository = plan.one("aws:ecr/repository:Repository")
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(type=repository.type, properties=_struct(repository.inputs),
                                                            urn=repository.urn, name=repository.name, options=_options(repository)))
    (skipped,) = [d for d in response.diagnostics if d.policyName == "ecr-immutable-tags"]
    assert skipped.enforcementLevel == analyzer_pb2.ADVISORY
    assert skipped.message.startswith("can't run policy 'ecr-immutable-tags' from policy pack 'mlserve@v") and "during preview" in skipped.message


def test_the_pack_carries_a_semantic_version():
    import re

    import yaml

    document = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(document["version"])) and document["runtime"]["name"] == "python"
