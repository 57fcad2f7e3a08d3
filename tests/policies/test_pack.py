"""The pack's entry point, its per-environment configs, and the offline runner's report."""

from __future__ import annotations

import json
import runpy

import pulumi_policy
import pytest

from mlserve.offline import pack as policy_check
from policies import all_rules
from tests.conftest import ROOT
from tests.policies.conftest import changed


def test_the_entry_point_assembles_every_rule_into_one_mandatory_pack(monkeypatch):
    made = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: made.update(kwargs))  # the real one never returns
    runpy.run_path(str(ROOT / "policies" / "__main__.py"), run_name="__main__")
    assert made["name"] == "mlserve" and made["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert [p.name for p in made["policies"]] == [r.name for r in all_rules()]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_environment_config_names_only_real_rules_and_parameters(env):
    config = policy_check.load_config(policy_check.CONFIG_DIR / f"{env}.json", all_rules())
    assert config["required-tags"]["requiredTagKeys"] == ["environment", "owner", "cost-center"]


def test_prod_is_stricter_than_dev():
    dev, prod = (json.loads((policy_check.CONFIG_DIR / f"{env}.json").read_text()) for env in ("dev", "prod"))
    assert prod["no-spot-gpu-pools"] == {"allowSpotGpu": False}
    assert prod["serving-min-replicas"]["minServingReplicas"] == 2 and prod["alarm-has-action"]["requireActions"] is True
    assert dev["no-spot-gpu-pools"]["enforcementLevel"] == "advisory"


@pytest.mark.parametrize("content, error", [
    ({"no-such-rule": "advisory"}, "no rule named 'no-such-rule'"),
    ({"ecr-scan-on-push": "sometimes"}, "ecr-scan-on-push.enforcementLevel 'sometimes'"),
    ({"cost-guard-gpu-nodes": {"maxGpus": 2}}, "cost-guard-gpu-nodes has no parameter ['maxGpus']"),
])
def test_a_bad_config_is_refused_naming_the_key(tmp_path, content, error):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(policy_check.PolicyConfigError, match=error.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        policy_check.load_config(path, all_rules())


def test_levels_from_config_and_the_report(compliant_plan):
    plan = changed(compliant_plan, "repo", {"imageTagMutability": "MUTABLE", "imageScanningConfiguration.scanOnPush": False})
    report = policy_check.check(plan, {"ecr-immutable-tags": "advisory", "ecr-kms-encryption": "disabled",
                                       "cost-guard-monthly-budget": {"monthlyBudgetUsd": 6000}})
    assert {(v.rule, v.level) for v in report.violations} == {("ecr-immutable-tags", "advisory"), ("ecr-scan-on-push", "mandatory")}
    assert len(report.run) == len(all_rules()) - 1 and len(report.passed) == len(report.run) - 2
    lines = policy_check.render(report)
    assert lines[0] == "[mandatory] ecr-scan-on-push: 1 violation(s)"
    assert lines[1].startswith("    aws:ecr/repository:Repository  repo: set imageScanningConfiguration.scanOnPush")
    assert lines[2] == "[advisory] ecr-immutable-tags: 1 violation(s)"
    assert lines[-1] == (f"Policies: {len(all_rules()) - 1} rules run, {len(all_rules()) - 3} passed, "
                         "1 advisory and 1 mandatory violations")


def test_rules_see_props_through_the_analyzers_unknown_checking_proxy(compliant_plan):
    seen = []
    probe = pulumi_policy.ResourceValidationPolicy(
        name="probe", description="probe.", validate=lambda args, report: seen.append((type(args.props).__name__, args.opts.protect,
                                                                                       args.provider.resource_type if args.provider else None)))
    policy_check.check(changed(compliant_plan, "repo", {}), rules=[probe])
    assert ("_DictProxy", False, "pulumi:providers:aws") in seen


def test_supported_versions_follow_the_versions_the_stack_can_build():
    from mlserve.stack.settings.cluster import KUBERNETES_VERSIONS
    from policies.cluster import VERSION_CONFIG

    assert VERSION_CONFIG["supportedVersions"]["default"] == list(KUBERNETES_VERSIONS)
    for env in ("dev", "prod"):
        config = json.loads((policy_check.CONFIG_DIR / f"{env}.json").read_text())
        assert config["eks-supported-version"]["supportedVersions"] == list(KUBERNETES_VERSIONS)


def test_the_compliant_kubernetes_objects_are_valid_objects(compliant_plan):
    """The objects the rules are tested on are real objects: built-in kinds against the cluster version's
    schema, Istio custom resources against the pinned Istio CRDs."""
    from tests.istio_schema import validate_istio
    from tests.k8s_schema import manifest_from_inputs, validate_manifest

    objects = [r for r in compliant_plan.resources if r.type.startswith("kubernetes:") and r.custom
               and not r.type.startswith(("kubernetes:helm.sh/", "pulumi:"))]
    istio = [r for r in objects if ".istio.io/" in r.type]
    assert len(objects) == 12 and len(istio) == 4
    for resource in objects:
        manifest = manifest_from_inputs(resource.inputs)
        validate_istio(manifest) if resource in istio else validate_manifest(manifest, "1.36")
