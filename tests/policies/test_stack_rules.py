"""Stack rules (cross-resource): the compliant stack passes; removing or changing one resource violates."""

from __future__ import annotations

import copy
import dataclasses
import re

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
                                  "vpc-default-security-group-closed", "s3-access-logged", "sagemaker-endpoint-rollback-alarms",
                                  "k8s-namespace-network-policy", "istio-gateway-no-plaintext-internet",
                                  "cost-estimate-complete"])
def test_the_compliant_stack_passes(compliant_plan, rule):
    # The compliant stack may reach ~$5,400 a month (4 GPU nodes, 2 ml.g5.xlarge): above the default budget.
    config = {"monthlyBudgetUsd": 6000} if rule == "cost-guard-monthly-budget" else None
    assert messages(compliant_plan, rule, config) == []


@pytest.mark.parametrize("companion, kind", [
    ("models-pab", "public access block"), ("models-versioning", "versioning"), ("models-sse", "encryption configuration"),
    ("models-policy", "TLS-only bucket policy"), ("models-ownership", "ownership controls"),
    ("models-lifecycle", "lifecycle configuration")])
def test_a_bucket_without_one_of_its_companions(compliant_plan, companion, kind):
    expected = [f"models: bucket models has no {kind}: declare them for it"]
    assert messages(without(compliant_plan, companion), "s3-bucket-guardrails-present") == expected
    # A companion naming the bucket by a literal (another stack's bucket of that name) is not this bucket's.
    assert messages(changed(compliant_plan, companion, {"bucket": "mlserve-prod-models"}), "s3-bucket-guardrails-present") == expected


def test_a_vpc_without_flow_logs(compliant_plan):
    assert messages(without(compliant_plan, "flow-log"), "vpc-flow-logs-enabled") == [
        "vpc: VPC vpc has no flow log: declare an aws.ec2.FlowLog with vpcId = this VPC's id and trafficType ALL"]


def test_an_autoscaler_or_budget_in_another_namespace_does_not_count(compliant_plan):
    elsewhere = changed(compliant_plan, "stable-hpa", {"metadata.namespace": "other"})
    assert [m.split(":")[1].strip() for m in messages(elsewhere, "serving-autoscaler-and-pdb")] == [
        "serving Deployment model-server-stable has no HorizontalPodAutoscaler or KEDA ScaledObject"]


def test_a_serving_deployment_without_autoscaler_or_a_pdb_selecting_it(compliant_plan):
    assert messages(without(compliant_plan, "stable-hpa"), "serving-autoscaler-and-pdb") == [
        "stable: serving Deployment model-server-stable has no HorizontalPodAutoscaler or KEDA ScaledObject: add one "
        "with scaleTargetRef model-server-stable"]
    other = changed(compliant_plan, "stable-pdb", {"spec.selector.matchLabels": {"app.kubernetes.io/name": "other"}})
    found = messages(other, "serving-autoscaler-and-pdb")
    assert len(found) == 1 and "has no PodDisruptionBudget selecting its pods" in found[0]


def test_a_keda_scaled_object_counts_as_the_autoscaler(compliant_plan):
    """KEDA owns the HPA of the Deployment its ScaledObject targets (kind defaults to Deployment)."""
    plan = without(compliant_plan, "stable-hpa")
    hpa = next(r for r in compliant_plan.resources if r.name == "stable-hpa")
    token = "kubernetes:keda.sh/v1alpha1:ScaledObject"
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": dict(hpa.inputs["metadata"]),
              "spec": {"scaleTargetRef": {"name": "model-server-stable"}, "minReplicaCount": 2.0, "triggers": []}}
    plan.resources.append(dataclasses.replace(hpa, type=token, name="stable-scaler", inputs=scaled, outputs=copy.deepcopy(scaled),
                                              urn=hpa.urn.replace("kubernetes:autoscaling/v2:HorizontalPodAutoscaler::stable-hpa",
                                                                  f"{token}::stable-scaler")))
    assert messages(plan, "serving-autoscaler-and-pdb") == []
    other = changed(plan, "stable-scaler", {"spec.scaleTargetRef.kind": "StatefulSet"})
    assert len(messages(other, "serving-autoscaler-and-pdb")) == 1


def test_mtls_permissive_or_missing_in_the_serving_namespace(compliant_plan):
    permissive = messages(changed(compliant_plan, "strict-mtls", {"spec.mtls.mode": "PERMISSIVE"}), "mesh-strict-mtls")
    assert permissive == [
        "serving-ns: namespace mlserve-serving has no namespace-wide PeerAuthentication with mtls.mode STRICT: declare one (no selector)",
        "strict-mtls: PeerAuthentication strict-mtls sets ['PERMISSIVE'] in mlserve-serving: use STRICT"]
    assert len(messages(without(compliant_plan, "strict-mtls"), "mesh-strict-mtls")) == 1


def test_gpu_node_maximum(compliant_plan):
    assert messages(compliant_plan, "cost-guard-gpu-nodes", {"maxGpuNodes": 3}) == [
        "None: GPU pools may reach 4 nodes (gpu=4), above maxGpuNodes 3: lower nodePools[].maxSize"]
    assert messages(compliant_plan, "cost-guard-gpu-nodes", {"maxGpuNodes": 4}) == []
    cpu_pool = changed(compliant_plan, "gpu", {"amiType": "AL2023_x86_64_STANDARD", "instanceTypes": ["m7i.large"]})
    assert messages(cpu_pool, "cost-guard-gpu-nodes", {"maxGpuNodes": 0}) == []
    unsized = changed(compliant_plan, "gpu", {"scalingConfig.maxSize": DELETE})
    assert messages(unsized, "cost-guard-gpu-nodes", {"maxGpuNodes": 0}) == []


def test_the_monthly_budget_holds_at_its_edge(compliant_plan):
    """A budget a cent under the estimate fails, one a cent over passes (the comparison, not a margin)."""
    found = messages(compliant_plan, "cost-guard-monthly-budget", {"monthlyBudgetUsd": 1})
    estimate = float(re.search(r"maximum scale is \$([\d,.]+)", found[0]).group(1).replace(",", ""))
    assert estimate > 1000
    assert len(messages(compliant_plan, "cost-guard-monthly-budget", {"monthlyBudgetUsd": estimate - 0.01})) == 1
    assert messages(compliant_plan, "cost-guard-monthly-budget", {"monthlyBudgetUsd": estimate + 0.01}) == []
    # Prices are read for the AWS provider's region: one the table does not hold prices nothing, so the
    # budget judges the priced part ($0) and the advisory cost-estimate-complete names what is unpriced.
    elsewhere = changed(compliant_plan, "aws", {"region": "xx-nowhere-1"})
    assert messages(elsewhere, "cost-guard-monthly-budget", {"monthlyBudgetUsd": estimate + 0.01}) == []
    assert "could not price region xx-nowhere-1" in " ".join(messages(elsewhere, "cost-estimate-complete"))
    unset = changed(compliant_plan, "aws", {"region": DELETE})  # the provider's own default: us-east-1, priced
    assert "no price" not in " ".join(messages(unset, "cost-guard-monthly-budget", {"monthlyBudgetUsd": 1}))


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
    plan.exports["cost_assumptions"] = {"bucketGb": 10050.0}  # two buckets: 2 x 10,000 GB more x $0.023 = $460 more
    assert cost.estimate(cost_resources(plan), "us-west-2").monthly_max == pytest.approx(base + 460, abs=0.01)
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


def test_mtls_port_level_and_disabled_modes_and_a_selected_policy(compliant_plan):
    """Every mode a serving-namespace PeerAuthentication sets counts, port by port, and only a policy
    without a selector makes the namespace STRICT."""
    port = changed(compliant_plan, "strict-mtls", {"spec.portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}})
    assert messages(port, "mesh-strict-mtls") == [
        "strict-mtls: PeerAuthentication strict-mtls sets ['PERMISSIVE'] in mlserve-serving: use STRICT"]
    disabled = changed(compliant_plan, "strict-mtls", {"spec.mtls.mode": "DISABLE"})
    assert len(messages(disabled, "mesh-strict-mtls")) == 2
    selected = changed(compliant_plan, "strict-mtls", {"spec.selector": {"matchLabels": {"app": "x"}}})
    assert messages(selected, "mesh-strict-mtls") == [
        "serving-ns: namespace mlserve-serving has no namespace-wide PeerAuthentication with mtls.mode STRICT: declare one (no selector)"]
    beta = copy.deepcopy(compliant_plan)
    policy = next(r for r in beta.resources if r.name == "strict-mtls")
    policy.type = "kubernetes:security.istio.io/v1beta1:PeerAuthentication"
    assert messages(beta, "mesh-strict-mtls") == []
    policy.type = "kubernetes:security.istio.io/v1alpha1:PeerAuthentication"
    assert len(messages(beta, "mesh-strict-mtls")) == 1


@pytest.mark.parametrize("bucket_type", ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"])
def test_both_bucket_types_are_judged(compliant_plan, bucket_type):
    plan = without(compliant_plan, "models-pab")
    next(r for r in plan.resources if r.name == "models").type = bucket_type
    assert messages(plan, "s3-bucket-guardrails-present") == ["models: bucket models has no public access block: declare them for it"]
    unlogged = changed(plan, "trail", {"advancedEventSelectors": []})
    assert [m.split(":")[0] for m in messages(unlogged, "s3-access-logged")] == ["models"]


@pytest.mark.parametrize("logging_type", ["aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2"])
def test_a_server_access_log_target_may_use_sse_s3(compliant_plan, logging_type):
    plan = changed(compliant_plan, "audit-sse", {"rules.0.applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}})
    assert len(messages(plan, "s3-kms-encryption")) == 1
    target = next(r for r in plan.resources if r.name == "audit-sse").inputs["bucket"]
    logging = {"bucket": "mlserve-prod-models", "targetBucket": target, "targetPrefix": "s3/"}
    plan.resources.append(dataclasses.replace(next(r for r in plan.resources if r.name == "audit-sse"), type=logging_type,
                                              name="logging", inputs=logging, outputs=dict(logging),
                                              urn=f"urn:pulumi:prod::mlserve::{logging_type}::logging"))
    assert messages(plan, "s3-kms-encryption") == []


def test_a_composite_alarm_is_an_alarm_of_the_stack(compliant_plan):
    """alarm-has-action judges composite alarms too, and a composite of the endpoint's alarm may roll it back."""
    plan = copy.deepcopy(compliant_plan)
    alarm = next(r for r in plan.resources if r.name == "errors")
    token = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
    inputs = {"alarmName": "mlserve-prod-any", "alarmRule": 'ALARM("mlserve-prod-5xx")', "alarmActions": []}
    plan.resources.append(dataclasses.replace(alarm, type=token, name="any", inputs=inputs, outputs=dict(inputs),
                                              urn=alarm.urn.replace("aws:cloudwatch/metricAlarm:MetricAlarm::errors", f"{token}::any")))
    assert messages(plan, "alarm-has-action", {"requireActions": True}) == [
        "any: set alarmActions to the stack's alarm topic (and keep actionsEnabled): an alarm nobody hears is no alarm"]
    rolled = changed(plan, "endpoint", {"deploymentConfig.autoRollbackConfiguration.alarms": [{"alarmName": "mlserve-prod-any"}]})
    assert messages(rolled, "sagemaker-endpoint-rollback-alarms") == []
    other = changed(rolled, "any", {"alarmRule": 'ALARM("mlserve-prod-other")'})
    assert messages(other, "sagemaker-endpoint-rollback-alarms") == [
        "endpoint: no rollback alarm watches endpoint mlserve-prod-endpoint (dimension EndpointName): add its error and latency alarms"]


def test_objects_without_a_namespace_land_in_their_providers(compliant_plan):
    """k8s-not-default-namespace: no metadata.namespace means the provider's namespace, else "default"."""
    plan = changed(compliant_plan, "server-sa", {"metadata.namespace": DELETE})
    assert len(messages(plan, "k8s-not-default-namespace")) == 1
    next(r for r in plan.resources if r.name == "k8s").inputs["namespace"] = "mlserve-serving"
    assert messages(plan, "k8s-not-default-namespace") == []
    # ... which is also where the token rule's exemptions name it.
    opened = changed(plan, "server-sa", {"automountServiceAccountToken": True})
    exemption = {"exemptions": {"mlserve-serving/model-server": "this ServiceAccount's pods call the API"}}
    assert messages(opened, "k8s-no-service-account-token", exemption) == []


def test_provider_default_tags_count_as_a_resources_tags(compliant_plan):
    """required-tags reads the provider's default tags, which the engine may hand over as a JSON string."""
    plan = copy.deepcopy(compliant_plan)
    provider = next(r for r in plan.resources if r.name == "aws")
    assert messages(plan, "required-tags") == []
    provider.inputs["defaultTags"] = '{"tags": {"environment": "prod", "owner": "ml-platform", "cost-center": "ml-prod"}}'
    assert messages(plan, "required-tags") == []
    provider.inputs["defaultTags"] = ""
    assert "repo: missing tags ['environment', 'owner', 'cost-center']" in "\n".join(messages(plan, "required-tags"))


DEFAULT_GATEWAY_PORTS = [("status-port", 15021.0), ("http2", 80.0), ("https", 443.0)]  # the Istio gateway chart's


@pytest.mark.parametrize("name, number", DEFAULT_GATEWAY_PORTS)
def test_the_gateway_charts_default_ports_face_the_load_balancer(compliant_plan, name, number):
    """Without service.ports the chart's three ports face the NLB; each is plaintext unless ssl-ports names it."""
    from tests.policies.cases_kubernetes import ANNOTATIONS, annotations

    served = changed(compliant_plan, "gateway", {"spec.servers.0.port.number": number})
    others = ",".join(n for n, _ in DEFAULT_GATEWAY_PORTS if n != name)
    plain = changed(served, "ingress-gateway", {"values.service.ports": DELETE, ANNOTATIONS: annotations(ssl_ports=others)})
    assert [m.split(" through")[0] for m in messages(plain, "istio-gateway-no-plaintext-internet")] == [
        f"gateway: Gateway mlserve-gateway serves HTTP on port {int(number)}"]
    named = changed(served, "ingress-gateway", {"values.service.ports": DELETE, ANNOTATIONS: annotations(ssl_ports=name)})
    assert messages(named, "istio-gateway-no-plaintext-internet") == []


def test_a_declared_load_balancer_service_is_judged_like_the_charts(compliant_plan):
    """A LoadBalancer Service of the stack's own, selecting the gateway pods, is one more way onto the internet."""
    plan = copy.deepcopy(compliant_plan)
    release = next(r for r in plan.resources if r.name == "ingress-gateway")
    service = {"metadata": {"name": "edge", "namespace": "istio-ingress",
                            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}},
               "spec": {"type": "LoadBalancer", "selector": {"istio": "ingress"}, "ports": [{"name": "http", "port": 443.0}]}}
    plan.resources.append(dataclasses.replace(release, type="kubernetes:core/v1:Service", name="edge", inputs=service,
                                              outputs=copy.deepcopy(service), urn=release.urn.replace(
                                                  "kubernetes:helm.sh/v3:Release::ingress-gateway", "kubernetes:core/v1:Service::edge")))
    assert messages(plan, "istio-gateway-no-plaintext-internet") == [
        "gateway: Gateway mlserve-gateway serves HTTP on port 443 through internet-facing load balancer edge without TLS: terminate "
        "TLS at the load balancer (ssl-cert, ssl-ports) or the Gateway (HTTPS), or only redirect (tls.httpsRedirect)"]
    node_port = changed(plan, "edge", {"spec.type": "NodePort"})
    assert messages(node_port, "istio-gateway-no-plaintext-internet") == []
    other_pods = changed(plan, "edge", {"spec.selector": {"istio": "other"}})
    assert messages(other_pods, "istio-gateway-no-plaintext-internet") == []
    internal = changed(plan, "edge", {"metadata.annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}})
    assert messages(internal, "istio-gateway-no-plaintext-internet") == []
    by_class = changed(plan, "edge", {"metadata.annotations": {}, "spec.loadBalancerClass": "service.k8s.aws/nlb"})
    assert messages(by_class, "istio-gateway-no-plaintext-internet") == []


def test_strict_mtls_is_judged_for_the_serving_namespace_only(compliant_plan):
    """The rule needs the serving namespace in the stack, and only a policy in it or in Istio's root namespace counts."""
    elsewhere = changed(compliant_plan, "strict-mtls", {"metadata.namespace": "other"})
    assert len(messages(elsewhere, "mesh-strict-mtls")) == 1
    no_serving = changed(elsewhere, "serving-ns", {"metadata.name": "other"})
    assert messages(no_serving, "mesh-strict-mtls") == []


def test_an_autoscaler_of_another_kind_does_not_scale_the_deployment(compliant_plan):
    other_kind = changed(compliant_plan, "stable-hpa", {"spec.scaleTargetRef.kind": "StatefulSet"})
    assert len(messages(other_kind, "serving-autoscaler-and-pdb")) == 1


def test_a_server_access_log_target_needs_no_logging_of_its_own(compliant_plan):
    """s3-access-logged exempts the bucket a BucketLogging writes to, as it does a trail's bucket."""
    plan = changed(compliant_plan, "trail", {"s3BucketName": "mlserve-prod-elsewhere"})
    assert [m.split(":")[0] for m in messages(plan, "s3-access-logged")] == ["audit"]
    audit = next(r for r in plan.resources if r.name == "audit-sse")
    logging = {"bucket": "mlserve-prod-elsewhere", "targetBucket": "mlserve-prod-models-logs", "targetPrefix": "s3/"}
    plan.resources.append(dataclasses.replace(audit, type="aws:s3/bucketLogging:BucketLogging", name="elsewhere-logging",
                                              inputs=logging, outputs=dict(logging), property_dependencies={},
                                              urn="urn:pulumi:prod::mlserve::aws:s3/bucketLogging:BucketLogging::elsewhere-logging"))
    assert messages(plan, "s3-access-logged") == []
