"""Each rule: the compliant stack passes it; changing one property it reads gives the expected violation,
and a change at the edge of what it accepts does not.

The compliant stack (tests/policies/compliant.py) is declared with typed Args and recorded under the
offline engine, so a rule reading a misspelt property would fail its compliant case or its violation
case. The cases live in tests/policies/cases_aws.py and cases_kubernetes.py.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from mlserve.offline import engine
from policies import all_rules
from tests.policies import cases_aws, cases_kubernetes
from tests.policies.conftest import DELETE, changed, messages

CASES = cases_aws.VIOLATIONS + cases_kubernetes.VIOLATIONS
PASSES = cases_aws.PASSES + cases_kubernetes.PASSES
# Stack rules whose cases remove or add whole resources (tests/policies/test_stack_rules.py).
STACK_RULE_TESTS = ["s3-bucket-guardrails-present", "serving-autoscaler-and-pdb", "mesh-strict-mtls", "cost-guard-gpu-nodes",
                    "cost-guard-monthly-budget", "cost-estimate-complete"]


def test_every_rule_has_a_kebab_case_name_a_sourced_description_and_a_case():
    rules = all_rules()
    assert len(rules) >= 70
    assert len({r.name for r in rules}) == len(rules)
    sources = re.compile(r"Checkov CKV|CIS |EKS best practices|Pod Security Standards|Istio|AWS Security Hub|AWSGuard|AWS IAM|"
                         r"SageMaker|Well-Architected|mlserve")
    for rule in rules:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name), rule.name
        assert rule.description.endswith(".") and sources.search(rule.description), rule.description
        assert rule.enforcement_level is not None, rule.name
    covered = {case[0] for case in CASES} | set(STACK_RULE_TESTS)
    assert sorted(r.name for r in rules if r.name not in covered) == []


def test_every_case_names_a_rule_and_a_compliant_resource(compliant_plan):
    names = {r.name for r in all_rules()}
    resources = {r.name for r in compliant_plan.resources}
    for case in CASES + PASSES:
        assert case[0] in names and case[1] in resources, case[:2]


# Cases with no change violate through their config alone; every other case's config passes the compliant stack.
COMPLIANT = sorted({(c[0], json.dumps(c[3])) for c in CASES if c[2]} | {(r.name, "null") for r in all_rules()})


@pytest.mark.parametrize("rule, config", COMPLIANT, ids=[f"{r}-{c}" for r, c in COMPLIANT])
def test_the_compliant_stack_passes(compliant_plan, rule, config):
    config = json.loads(config)
    if rule == "cost-guard-monthly-budget" and config is None:
        config = {"monthlyBudgetUsd": 6000}  # the compliant stack may reach ~$5,400 a month
    assert messages(compliant_plan, rule, config) == []


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_one_changed_property_gives_the_violation(compliant_plan, case):
    rule, resource, change, config, expected = case[:5]
    reported = case[5] if len(case) > 5 else resource
    found = messages(changed(compliant_plan, resource, change), rule, config)
    assert any(f.startswith(f"{reported}: ") and expected in f for f in found), found
    if change:  # one resource changed: only the resource it concerns violates
        assert all(f.startswith(f"{reported}: ") for f in found), found


@pytest.mark.parametrize("case", PASSES, ids=[f"{c[0]}-{i}" for i, c in enumerate(PASSES)])
def test_a_change_the_rule_accepts_passes(compliant_plan, case):
    rule, resource, change, config = case
    assert messages(changed(compliant_plan, resource, change), rule, config) == []


def test_only_a_bucket_receiving_s3_access_logs_may_use_sse_s3(compliant_plan):
    """S3 delivers server access logs only to SSE-S3 buckets; any other bucket still needs KMS."""
    sse_s3 = changed(compliant_plan, "models-sse", {"rules.0.applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}})
    sse_config = next(r for r in sse_s3.resources if r.name == "models-sse")
    assert messages(sse_s3, "s3-kms-encryption") != []
    log_target = copy.deepcopy(sse_s3)
    logging = {"bucket": "other", "targetBucket": sse_config.inputs["bucket"], "targetPrefix": "s3/"}
    log_target.resources.append(engine.RecordedResource(
        urn="urn:pulumi:x::mlserve::aws:s3/bucketLogging:BucketLogging::logging", type="aws:s3/bucketLogging:BucketLogging",
        name="logging", inputs=logging, outputs=dict(logging), parent="", provider="", custom=True, id="logging"))
    assert messages(log_target, "s3-kms-encryption") == []


def test_a_wildcard_write_exemption_covers_only_the_policy_it_names(compliant_plan):
    """A vendor's published policy is accepted by name, with its reason in the config; nothing else is."""
    wild = changed(compliant_plan, "irsa-read-models", {
        "policy": cases_aws.POLICY % '[{"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]'})
    reason = {"exemptions": {"irsa-read-models": "a vendor's published policy, reviewed"}}
    assert messages(wild, "iam-no-wildcard-resource-on-write", reason) == []
    other = {"exemptions": {"mesh-lb-controller-policy": "a vendor's published policy, reviewed"}}
    assert messages(wild, "iam-no-wildcard-resource-on-write", other) != []


def test_a_bucket_logged_by_server_access_logs_needs_no_trail(compliant_plan):
    """s3-access-logged: a BucketLogging whose `bucket` comes from the bucket covers it; one naming it by a
    literal (another stack's bucket of the same name) does not."""
    plan = changed(compliant_plan, "trail", {"advancedEventSelectors": []})
    assert messages(plan, "s3-access-logged") == ["models: bucket models records no access: declare an aws.s3.BucketLogging "
                                                  "for it or a CloudTrail trail with S3 data events on its objects "
                                                  "(modelStore.accessLogging)"]
    models = next(r for r in plan.resources if r.name == "models")
    logging = {"bucket": models.inputs["bucket"], "targetBucket": "mlserve-prod-models-logs", "targetPrefix": "s3/"}
    record = engine.RecordedResource(
        urn="urn:pulumi:prod::mlserve::aws:s3/bucketLogging:BucketLogging::models-logging", type="aws:s3/bucketLogging:BucketLogging",
        name="models-logging", inputs=logging, outputs=dict(logging), parent="", provider="", custom=True, id="models-logging")
    literal = copy.deepcopy(plan)
    literal.resources.append(record)
    assert messages(literal, "s3-access-logged") != []
    plan.resources.append(copy.deepcopy(record))
    plan.resources[-1].property_dependencies = {"bucket": [models.urn]}
    assert messages(plan, "s3-access-logged") == []


def test_a_rule_resource_on_a_default_security_group_is_refused(compliant_plan):
    plan = copy.deepcopy(compliant_plan)
    rule = next(r for r in plan.resources if r.name == "api-from-vpc")
    default = next(r for r in plan.resources if r.name == "default-sg")
    rule.property_dependencies["securityGroupId"] = [default.urn]
    assert messages(plan, "vpc-default-security-group-closed") == [
        "api-from-vpc: api-from-vpc adds a rule to a default security group: attach it to a security group of your own"]


def test_a_namespace_without_any_network_policy(compliant_plan):
    plan = copy.deepcopy(compliant_plan)
    plan.resources = [r for r in plan.resources if r.name != "serving-netpol"]
    assert messages(plan, "k8s-namespace-network-policy") == [
        "serving-ns: namespace mlserve-serving has no NetworkPolicy: declare one (default deny, then allow what its pods "
        "serve and call) or exempt it with a reason in the policy config"]


def test_a_delete_marker_is_honoured_and_drops_the_property_dependency(compliant_plan):
    plan = changed(compliant_plan, "flow-log", {"vpcId": "vpc-0another"})
    log = next(r for r in plan.resources if r.name == "flow-log")
    assert log.inputs["vpcId"] == "vpc-0another" and "vpcId" not in log.property_dependencies
    assert "trafficType" not in next(r for r in changed(plan, "flow-log", {"trafficType": DELETE}).resources
                                     if r.name == "flow-log").inputs


# Types a rule judges like the compliant resource's own: each violation case is replayed with the
# resource re-typed, so a rule that drops one of its types fails here.
ALIASES = {
    "aws:iam/rolePolicy:RolePolicy": ["aws:iam/policy:Policy"],
    "kubernetes:security.istio.io/v1:PeerAuthentication": ["kubernetes:security.istio.io/v1beta1:PeerAuthentication"],
    "aws:s3/bucketVersioning:BucketVersioning": ["aws:s3/bucketVersioningV2:BucketVersioningV2"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        ["aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration":
        ["aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"],
    "kubernetes:apps/v1:Deployment": ["kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet",
                                      "kubernetes:apps/v1:ReplicaSet", "kubernetes:batch/v1:Job"],
    "kubernetes:rbac.authorization.k8s.io/v1:Role": ["kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"],
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ["kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"],
    "kubernetes:security.istio.io/v1:AuthorizationPolicy": ["kubernetes:security.istio.io/v1beta1:AuthorizationPolicy"],
    "kubernetes:networking.istio.io/v1:VirtualService": ["kubernetes:networking.istio.io/v1beta1:VirtualService"],
    "kubernetes:networking.istio.io/v1:Gateway": ["kubernetes:networking.istio.io/v1beta1:Gateway",
                                                  "kubernetes:networking.istio.io/v1alpha3:Gateway"],
}
# Rules that judge the serving Deployment only (not every workload kind).
_DEPLOYMENT_ONLY = {"serving-min-replicas"}


def retyped(plan: engine.Plan, name: str, resource_type: str) -> engine.Plan:
    """`plan` with resource `name` declared as `resource_type` (same inputs)."""
    plan = copy.deepcopy(plan)
    resource = next(r for r in plan.resources if r.name == name)
    resource.urn = resource.urn.replace(f"{resource.type}::", f"{resource_type}::")
    resource.type = resource_type
    return plan


def _alias_cases(plan_types: dict[str, str]):
    for case in CASES:
        for alias in ALIASES.get(plan_types.get(case[1], ""), []):
            if case[0] not in _DEPLOYMENT_ONLY:
                yield pytest.param(case, alias, id=f"{case[0]}-{case[1]}-as-{alias.rsplit(':', 1)[-1]}-{CASES.index(case)}")


def _compliant_types() -> dict[str, str]:
    from tests.policies import compliant

    return {r.name: r.type for r in engine.run(compliant.program, stack=compliant.STACK,
                                                 config={"mlserve:region": "us-west-2"}).resources}


@pytest.mark.parametrize("case, alias", list(_alias_cases(_compliant_types())))
def test_each_type_a_rule_reads_is_judged(compliant_plan, case, alias):
    rule, resource, change, config, expected = case[:5]
    reported = case[5] if len(case) > 5 else resource
    found = messages(retyped(changed(compliant_plan, resource, change), resource, alias), rule, config)
    assert any(f.startswith(f"{reported}: ") and expected in f for f in found), found


@pytest.mark.parametrize("kind, path", [("kubernetes:core/v1:Pod", "spec"),
                                        ("kubernetes:batch/v1:CronJob", "spec.jobTemplate.spec.template.spec")])
def test_pods_and_cron_jobs_are_read_where_they_keep_their_pod_spec(compliant_plan, kind, path):
    plan = copy.deepcopy(compliant_plan)
    deployment = next(r for r in plan.resources if r.name == "stable")
    pod = deployment.inputs["spec"]["template"]["spec"]
    body = pod if kind.endswith("Pod") else {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": pod}}}}
    deployment.inputs = deployment.outputs = {"metadata": deployment.inputs["metadata"], "spec": body}
    plan = retyped(plan, "stable", kind)
    assert messages(plan, "pss-no-privilege-escalation") == []
    escalating = changed(plan, "stable", {f"{path}.containers.0.securityContext.allowPrivilegeEscalation": True})
    assert messages(escalating, "pss-no-privilege-escalation") == [
        "stable: container 'server': set securityContext.allowPrivilegeEscalation = false"]
