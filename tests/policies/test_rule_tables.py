"""The tables rules read, entry by entry: each listed condition key, action, resource, protocol and
instance family changes a verdict on its own. The lists here are written out (not read from the
rules), so a rule that loses an entry fails."""

from __future__ import annotations

import json

import pytest

from tests.policies.cases_aws import key_policy, policy, write_on_any
from tests.policies.conftest import DELETE, changed, messages

ACCOUNT = "123456789012"

# Keys that describe the caller, transport, time or network: a '*' write conditioned on one is still a '*' write.
CONTEXT_KEYS = [
    "aws:SecureTransport", "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:CurrentTime", "aws:EpochTime",
    "aws:SourceIp", "aws:VpcSourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:UserAgent", "aws:Referer", "aws:userid",
    "aws:username", "aws:TokenIssueTime", "aws:ViaAWSService", "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast",
    "aws:RequestedRegion", "aws:SourceIdentity", "aws:FederatedProvider", "aws:PrincipalArn", "aws:PrincipalAccount",
    "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalType", "aws:PrincipalIsAWSService",
    "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner",
    "aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4",
]
# Keys that pin an open principal to an account, organization, ARN or network path.
PINNING = {
    "aws:PrincipalAccount": ACCOUNT, "aws:PrincipalOrgID": "o-abc123", "aws:PrincipalOrgPaths": "o-abc123/r-ab12/ou-ab12-11111111/",
    "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/reader", "aws:SourceAccount": ACCOUNT,
    "aws:SourceArn": f"arn:aws:s3:::mlserve-prod-models", "aws:SourceOwner": ACCOUNT, "aws:SourceOrgID": "o-abc123",
    "aws:SourceOrgPaths": "o-abc123/r-ab12/", "aws:SourceVpce": "vpce-1a2b3c4d", "aws:SourceVpc": "vpc-1a2b3c4d",
    "aws:VpceAccount": ACCOUNT, "kms:CallerAccount": ACCOUNT,
}
DATA_READS = ["s3:GetObject", "s3:GetObjectVersion", "ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath",
              "secretsmanager:GetSecretValue"]
ESCALATION = ["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AttachRolePolicy", "iam:AttachUserPolicy",
              "iam:AttachGroupPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy", "iam:PutGroupPolicy", "iam:UpdateAssumeRolePolicy",
              "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile", "iam:AddUserToGroup",
              "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary", "iam:PutUserPermissionsBoundary",
              "iam:DeleteUserPermissionsBoundary"]
# (resource, verb) pairs that escalate in a Role, and verbs that escalate on anything.
RBAC_ESCALATING = [("mutatingwebhookconfigurations", "update"), ("validatingwebhookconfigurations", "create"),
                   ("certificatesigningrequests/approval", "patch"), ("pods/exec", "get"), ("pods/attach", "create"),
                   ("nodes/proxy", "get"), ("services/status", "update"), ("serviceaccounts/token", "create"),
                   ("secrets", "list")]
RBAC_VERBS = ["bind", "escalate", "impersonate", "approve"]
BROAD_SUBJECTS = [("Group", "system:anonymous"), ("Group", "system:unauthenticated"), ("Group", "system:authenticated"),
                  ("User", "system:anonymous")]
GPU_INSTANCES = ["g4dn.xlarge", "g5.2xlarge", "g6.xlarge", "gr6.4xlarge", "p3.2xlarge", "p4d.24xlarge", "p5.48xlarge",
                 "p6-b200.48xlarge"]


@pytest.mark.parametrize("key", CONTEXT_KEYS)
def test_a_caller_or_context_key_does_not_scope_a_wildcard_write(compliant_plan, key):
    plan = changed(compliant_plan, "irsa-read-models", {"policy": write_on_any({"StringEquals": {key: "x-1"}})})
    assert len(messages(plan, "iam-no-wildcard-resource-on-write")) == 1
    tagged = changed(compliant_plan, "irsa-read-models", {"policy": write_on_any({"StringEquals": {key: "x-1"},
                                                                                   "StringLike": {"aws:ResourceTag/owner": "a*"}})})
    assert messages(tagged, "iam-no-wildcard-resource-on-write") == []


@pytest.mark.parametrize("operator", ["StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike",
                                      "ForAnyValue:StringEquals"])
def test_each_positive_operator_scopes_a_wildcard_write(compliant_plan, operator):
    plan = changed(compliant_plan, "irsa-read-models", {"policy": write_on_any({operator: {"aws:ResourceTag/owner": "mlserve-prod"}})})
    assert messages(plan, "iam-no-wildcard-resource-on-write") == []
    negated = changed(compliant_plan, "irsa-read-models", {"policy": write_on_any({
        operator.replace("Equals", "NotEquals").replace("Like", "NotLike"): {"aws:ResourceTag/owner": "mlserve-prod"}})})
    assert len(messages(negated, "iam-no-wildcard-resource-on-write")) == 1


@pytest.mark.parametrize("key", list(PINNING))
def test_each_pinning_key_pins_an_open_principal(compliant_plan, key):
    pinned = changed(compliant_plan, "key", {"policy": key_policy({"StringEquals": {key: PINNING[key]}})})
    assert messages(pinned, "kms-key-policy-scoped") == []
    other = changed(compliant_plan, "key", {"policy": key_policy({"StringEquals": {key.replace(":", ":Not"): PINNING[key]}})})
    assert len(messages(other, "kms-key-policy-scoped")) == 1


@pytest.mark.parametrize("action", DATA_READS)
def test_each_data_read_on_any_resource_is_refused(compliant_plan, action):
    plan = changed(compliant_plan, "irsa-read-models", {"policy": write_on_any(action=action)})
    assert messages(plan, "iam-no-wildcard-resource-on-data-read") == [
        f"irsa-read-models: statement 'Scale' lets ['{action}'] read every object, parameter or secret (Resource '*'): "
        "name the bucket/prefix, parameter path or secret ARNs"]


@pytest.mark.parametrize("action", ESCALATION)
def test_each_iam_permission_management_action_is_refused(compliant_plan, action):
    plan = changed(compliant_plan, "irsa-read-models", {"policy": policy(
        {"Sid": "Manage", "Effect": "Allow", "Action": action, "Resource": f"arn:aws:iam::{ACCOUNT}:role/irsa"})})
    found = messages(plan, "iam-no-privilege-escalation")
    assert len(found) == 1 and f"allows ['{action}']" in found[0]


@pytest.mark.parametrize("resource, verb", RBAC_ESCALATING)
def test_each_escalating_grant_is_refused(compliant_plan, resource, verb):
    plan = changed(compliant_plan, "server-role", {"rules.0.resources": [resource], "rules.0.verbs": [verb],
                                                   "rules.0.resourceNames": []})
    found = messages(plan, "k8s-rbac-no-escalation")
    assert len(found) == 1 and f"['{verb}']" in found[0]


@pytest.mark.parametrize("verb", RBAC_VERBS)
def test_each_escalating_verb_is_refused(compliant_plan, verb):
    found = messages(changed(compliant_plan, "server-role", {"rules.0.verbs": [verb]}), "k8s-rbac-no-escalation")
    assert found == [f"server-role: rules[0] grants ['{verb}']: these let the holder act beyond its own permissions"]


@pytest.mark.parametrize("kind, name", BROAD_SUBJECTS)
def test_each_everyone_subject_is_refused(compliant_plan, kind, name):
    plan = changed(compliant_plan, "server-binding", {"subjects.0": {"kind": kind, "name": name}})
    assert len(messages(plan, "k8s-rbac-named-subjects")) == 1


@pytest.mark.parametrize("instance_type", GPU_INSTANCES)
def test_each_gpu_family_is_a_gpu_pool(compliant_plan, instance_type):
    plan = changed(compliant_plan, "gpu", {"amiType": "AL2023_x86_64_STANDARD", "instanceTypes": [instance_type], "taints": []})
    assert len(messages(plan, "gpu-pool-taint")) == 1


@pytest.mark.parametrize("protocol", ["HTTP", "HTTP2", "GRPC", "TCP", "MONGO"])
def test_each_plaintext_protocol_is_refused_behind_an_internet_facing_load_balancer(compliant_plan, protocol):
    plan = changed(compliant_plan, "gateway", {"spec.servers.0.port.number": 15021.0, "spec.servers.0.port.protocol": protocol})
    assert len(messages(plan, "istio-gateway-no-plaintext-internet")) == 1
    assert messages(changed(plan, "gateway", {"spec.servers.0.port.protocol": "TLS"}), "istio-gateway-no-plaintext-internet") == []


def test_the_cases_policy_helpers_write_json():
    assert json.loads(write_on_any())["Statement"][0]["Resource"] == "*"


# An ALLOW rule naming any one of these admits only who or what it names.
SOURCE_FIELDS = {"principals": "cluster.local/ns/istio-ingress/sa/istio-ingress", "requestPrincipals": "https://issuer/sub",
                 "namespaces": "istio-ingress", "ipBlocks": "10.30.0.0/16", "remoteIpBlocks": "198.51.100.0/24"}
OPERATION_FIELDS = {"hosts": "models.example.com", "ports": "8080", "methods": "POST", "paths": "/v2/models/*"}


@pytest.mark.parametrize("field", list(SOURCE_FIELDS))
def test_each_source_field_names_callers(compliant_plan, field):
    plan = changed(compliant_plan, "callers", {"spec.rules": [{"from": [{"source": {field: [SOURCE_FIELDS[field]]}}]}]})
    assert messages(plan, "istio-allow-policy-names-callers") == []
    wildcard = changed(compliant_plan, "callers", {"spec.rules": [{"from": [{"source": {field: ["*"]}}]}]})
    assert len(messages(wildcard, "istio-allow-policy-names-callers")) == 1


@pytest.mark.parametrize("field", list(OPERATION_FIELDS))
def test_each_operation_field_names_what_is_served(compliant_plan, field):
    plan = changed(compliant_plan, "callers", {"spec.rules": [{"to": [{"operation": {field: [OPERATION_FIELDS[field]]}}]}]})
    assert messages(plan, "istio-allow-policy-names-callers") == []
    wildcard = changed(compliant_plan, "callers", {"spec.rules": [{"to": [{"operation": {field: ["*"]}}]}]})
    assert len(messages(wildcard, "istio-allow-policy-names-callers")) == 1


def test_a_rule_is_open_when_any_of_its_sources_or_operations_is():
    """Sources (and operations) of one rule are alternatives: one open one opens the rule."""
    from policies.mesh import _admits_anyone

    named = {"source": {"namespaces": ["istio-ingress"]}}
    assert not _admits_anyone({"from": [named]})
    assert _admits_anyone({"from": [named, {"source": {}}]})
    assert not _admits_anyone({"from": [{"source": {}}], "to": [{"operation": {"ports": ["8080"]}}]})
    assert _admits_anyone({"from": [{"source": {}}], "to": [{"operation": {"ports": ["8080"]}}, {"operation": {}}]})


NAMESPACED = ["kubernetes:core/v1:Service", "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ConfigMap",
              "kubernetes:core/v1:Secret", "kubernetes:rbac.authorization.k8s.io/v1:Role",
              "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:networking.k8s.io/v1:Ingress",
              "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
              "kubernetes:policy/v1:PodDisruptionBudget"]


@pytest.mark.parametrize("kind", NAMESPACED)
def test_each_namespaced_kind_stays_out_of_default(compliant_plan, kind):
    from tests.policies.test_rules import retyped

    plan = retyped(changed(compliant_plan, "server-sa", {"metadata.namespace": "default"}), "server-sa", kind)
    assert messages(plan, "k8s-not-default-namespace") == [
        "server-sa: set metadata.namespace to the workload's own namespace (not default)"]


# (rule resource type, inputs): each security-group rule resource and direction is read.
WORLD_RULES = [
    ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0", "description": "d"}),
    ("aws:ec2/securityGroupRule:SecurityGroupRule",
     {"type": "ingress", "protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"], "description": "d"}),
    ("aws:ec2/securityGroupRule:SecurityGroupRule",
     {"type": "egress", "protocol": "all", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"], "description": "d"}),
    ("aws:ec2/securityGroupRule:SecurityGroupRule",
     {"type": "egress", "protocol": "tcp", "fromPort": 0.0, "toPort": 65535.0, "ipv6CidrBlocks": ["::/0"], "description": "d"}),
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
     {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "1.2.3.4/0", "description": "d"}),
]


@pytest.mark.parametrize("rule_type, inputs", WORLD_RULES)
def test_each_rule_resource_open_to_the_world_is_refused(compliant_plan, rule_type, inputs):
    from tests.policies.test_rules import retyped

    plan = retyped(changed(compliant_plan, "api-from-vpc", {"cidrIpv4": DELETE}), "api-from-vpc", rule_type)
    rule = next(r for r in plan.resources if r.name == "api-from-vpc")
    rule.inputs = rule.outputs = {"securityGroupId": "api-id", **inputs}
    assert len(messages(plan, "security-group-not-open-to-world")) == 1
    rule.inputs = rule.outputs = {k: v for k, v in rule.inputs.items() if k != "description"}
    assert len(messages(plan, "security-group-rules-described")) == 1


@pytest.mark.parametrize("egress", [
    {"protocol": "tcp", "fromPort": 0.0, "toPort": 65534.0, "cidrBlocks": ["0.0.0.0/0"], "description": "d"},
    {"protocol": "tcp", "fromPort": 1.0, "toPort": 65535.0, "cidrBlocks": ["0.0.0.0/0"], "description": "d"},
    {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["10.0.0.0/8"], "description": "d"},
    {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0x"], "description": "d"},
])
def test_egress_to_some_ports_or_some_networks_is_allowed(compliant_plan, egress):
    """(A malformed CIDR is no world either: AWS refuses it before it opens anything.)"""
    assert messages(changed(compliant_plan, "endpoints", {"egress": [egress]}), "security-group-not-open-to-world") == []


# Every verb each escalating resource is refused for, and the wildcard resource.
RBAC_GRANTS = [(r, v) for r, verbs in [
    ("mutatingwebhookconfigurations", ["create", "update", "patch", "delete", "deletecollection", "*"]),
    ("validatingwebhookconfigurations", ["create", "update", "patch", "delete", "deletecollection", "*"]),
    ("certificatesigningrequests/approval", ["update", "patch", "*"]), ("pods/exec", ["create", "get", "*"]),
    ("pods/attach", ["create", "get", "*"]), ("nodes/proxy", ["create", "get", "*"]), ("services/status", ["update", "patch", "*"]),
    ("serviceaccounts/token", ["create", "*"]), ("secrets", ["get", "list", "watch", "*"]), ("*", ["create", "list"])]
    for v in verbs]


@pytest.mark.parametrize("resource, verb", RBAC_GRANTS)
def test_each_verb_on_an_escalating_resource_is_refused(compliant_plan, resource, verb):
    plan = changed(compliant_plan, "server-role", {"rules.0.resources": [resource], "rules.0.verbs": [verb], "rules.0.resourceNames": []})
    assert messages(plan, "k8s-rbac-no-escalation") != []
    if verb == "list":  # on secrets (or every resource) only the all-secrets read applies
        assert messages(plan, "k8s-rbac-no-escalation") == [
            "server-role: rules[0] reads every secret (['list']): name the secrets in resourceNames"]


def test_non_resource_url_wildcards_are_refused(compliant_plan):
    plan = changed(compliant_plan, "server-role", {"rules.0.nonResourceURLs": ["*"]})
    assert messages(plan, "k8s-rbac-no-wildcards") == [
        "server-role: rules[0] has '*' in ['nonResourceURLs']: list the API groups, resources and verbs the workload uses"]
