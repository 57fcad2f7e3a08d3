"""Stack rules (cross-resource): the compliant stack passes; removing or changing one resource violates."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from mlserve.offline import pack as policy_check
from mlserve.offline.verdict import cost_resources
from policies import all_rules, cost, prices
from policies.stack import is_taggable
from tests.policies.conftest import DELETE, changed, messages


def without(plan, name):
    plan = copy.deepcopy(plan)
    plan.resources = [r for r in plan.resources if r.name != name]
    return plan


@pytest.mark.parametrize("rule", ["s3-bucket-guardrails-present", "vpc-flow-logs-enabled", "serving-autoscaler-and-pdb",
                                  "mesh-strict-mtls", "cost-guard-gpu-nodes", "cost-guard-monthly-budget",
                                  "cost-estimate-complete"])
def test_the_compliant_stack_passes(compliant_plan, rule):
    # The compliant stack may reach ~$5,400 a month (4 GPU nodes, 2 ml.g5.xlarge): above the default budget.
    config = {"monthlyBudgetUsd": 6000} if rule == "cost-guard-monthly-budget" else None
    assert messages(compliant_plan, rule, config) == []


def test_a_bucket_without_its_public_access_block(compliant_plan):
    assert messages(without(compliant_plan, "models-pab"), "s3-bucket-guardrails-present") == [
        "models: bucket models has no public access block: declare them for it"]


def test_a_vpc_without_flow_logs(compliant_plan):
    assert messages(without(compliant_plan, "flow-log"), "vpc-flow-logs-enabled") == [
        "vpc: VPC vpc has no flow log: declare an aws.ec2.FlowLog (trafficType ALL) for it"]


def test_a_serving_deployment_without_autoscaler_or_a_pdb_selecting_it(compliant_plan):
    assert messages(without(compliant_plan, "stable-hpa"), "serving-autoscaler-and-pdb") == [
        "stable: serving Deployment model-server-stable has no HorizontalPodAutoscaler or KEDA ScaledObject: add one "
        "with scaleTargetRef model-server-stable"]
    other = changed(compliant_plan, "stable-pdb", {"spec.selector.matchLabels": {"app.kubernetes.io/name": "other"}})
    found = messages(other, "serving-autoscaler-and-pdb")
    assert len(found) == 1 and "has no PodDisruptionBudget selecting its pods" in found[0]


def test_mtls_permissive_or_missing_in_the_serving_namespace(compliant_plan):
    permissive = messages(changed(compliant_plan, "strict-mtls", {"spec.mtls.mode": "PERMISSIVE"}), "mesh-strict-mtls")
    assert permissive == [
        "serving-ns: namespace mlserve-serving has no namespace-wide PeerAuthentication with mtls.mode STRICT: declare one (no selector)",
        "strict-mtls: PeerAuthentication strict-mtls sets ['PERMISSIVE'] in mlserve-serving: use STRICT"]
    assert len(messages(without(compliant_plan, "strict-mtls"), "mesh-strict-mtls")) == 1


def test_gpu_node_maximum(compliant_plan):
    assert messages(compliant_plan, "cost-guard-gpu-nodes", {"maxGpuNodes": 3}) == [
        "None: GPU pools may reach 4 nodes (gpu=4), above maxGpuNodes 3: lower nodePools[].maxSize"]


def test_monthly_budget(compliant_plan):
    found = messages(compliant_plan, "cost-guard-monthly-budget", {"monthlyBudgetUsd": 100})
    assert len(found) == 1 and "above the budget $100.00" in found[0] and f"(prices as of {prices.PRICES_AS_OF})" in found[0]
    assert " at least " not in found[0]
    unpriced = changed(compliant_plan, "gpu", {"instanceTypes": ["g7.future"]})
    # What is priced is still checked: over budget even without the GPU pool, and said to be a lower bound.
    lower_bound = messages(unpriced, "cost-guard-monthly-budget", {"monthlyBudgetUsd": 100})
    assert len(lower_bound) == 1 and "is at least (parts of the plan are unpriced, see cost-estimate-complete) $" in lower_bound[0]
    # An unpriced type under a budget the priced part meets is not a budget failure: the advisory rule says what is missing.
    assert messages(unpriced, "cost-guard-monthly-budget", {"monthlyBudgetUsd": 6000}) == []
    assert messages(compliant_plan, "cost-estimate-complete") == []
    missing = messages(unpriced, "cost-estimate-complete")
    assert len(missing) == 1 and missing[0].startswith(
        "None: the cost estimate could not price EC2 g7.future (node group gpu): cost-guard-monthly-budget checked only the priced part")


def test_an_unpriced_region_is_advisory_and_the_budget_rule_passes(compliant_plan):
    plan = changed(compliant_plan, "aws", {"region": "eu-west-1"})
    assert messages(plan, "cost-guard-monthly-budget", {"monthlyBudgetUsd": 100}) == []
    assert "could not price region eu-west-1" in messages(plan, "cost-estimate-complete")[0]
    report = policy_check.check(plan, {}, rules=[r for r in all_rules() if r.name.startswith("cost-")])
    assert {(v.rule, v.level) for v in report.violations} == {("cost-estimate-complete", "advisory")}


def test_the_budget_reads_the_usage_assumptions_the_stack_exports(compliant_plan):
    """The analyzer gets the root stack with its outputs; the budget moves with cost_assumptions."""
    base = cost.estimate(cost_resources(compliant_plan), "us-west-2").monthly_max
    plan = copy.deepcopy(compliant_plan)
    plan.exports["cost_assumptions"] = {"bucketGb": 10050.0}  # one bucket: 10,000 GB more x $0.023 = $230 more
    assert cost.estimate(cost_resources(plan), "us-west-2").monthly_max == pytest.approx(base + 230, abs=0.01)
    budget = {"monthlyBudgetUsd": base + 1}
    assert messages(compliant_plan, "cost-guard-monthly-budget", budget) == []
    assert len(messages(plan, "cost-guard-monthly-budget", budget)) == 1
    plan.exports["cost_assumptions"] = {"bucketGB": 1}
    assert messages(plan, "cost-guard-monthly-budget")[0].startswith(
        "None: cannot estimate the cost: cost_assumptions: unknown key(s) ['bucketGB']")


def test_one_per_account_resources_belong_to_the_stack_that_owns_them(compliant_plan):
    plan = copy.deepcopy(compliant_plan)
    repo = next(r for r in plan.resources if r.name == "repo")
    token = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"
    plan.resources.append(dataclasses.replace(repo, type=token, name="scanning", urn=repo.urn.replace("repo", "scanning").replace(
        "aws:ecr/repository:Repository", token), inputs={"scanType": "ENHANCED"}))
    assert messages(plan, "physical-names-carry-stack", {"ownsAccountSingletons": False}) == [
        f"scanning: {token} is one per account and region: only the stack whose policy config sets ownsAccountSingletons "
        "may declare it (two stacks would overwrite each other)"]
    assert messages(plan, "physical-names-carry-stack", {"ownsAccountSingletons": True}) == []


def test_taggable_types_are_read_from_pulumi_aws():
    assert is_taggable("aws:ec2/vpc:Vpc") and is_taggable("aws:sagemaker/endpoint:Endpoint")
    assert not is_taggable("aws:autoscaling/tag:Tag") and not is_taggable("aws:iam/rolePolicy:RolePolicy")
    assert not is_taggable("kubernetes:apps/v1:Deployment") and not is_taggable("aws:nosuch/thing:Thing")


def test_delete_marker_is_honoured(compliant_plan):
    plan = changed(compliant_plan, "logs", {"kmsKeyId": DELETE})
    assert "kmsKeyId" not in next(r for r in plan.resources if r.name == "logs").inputs


def test_a_mesh_wide_strict_policy_in_the_root_namespace_counts(compliant_plan):
    moved = changed(compliant_plan, "strict-mtls", {"metadata.namespace": "istio-system"})
    assert messages(moved, "mesh-strict-mtls") == []
    selected = changed(moved, "strict-mtls", {"spec.selector": {"matchLabels": {"app": "x"}}})
    assert len(messages(selected, "mesh-strict-mtls")) == 1
