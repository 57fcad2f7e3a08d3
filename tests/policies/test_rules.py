"""Each rule: the compliant stack passes it; changing one property gives the expected violation message.

The compliant stack (tests/policies/compliant.py) is declared with typed Args and recorded under the
offline engine, so a rule reading a misspelt property would fail its compliant case or its violation case.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from mlserve.offline import engine
from policies import all_rules
from tests.policies.conftest import DELETE, changed, messages

POLICY = '{"Version": "2012-10-17", "Statement": %s}'
IRSA = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE"


def _trust(condition: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{IRSA}"},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]})


# (rule, resource, {dotted input path: new value}, policy config or None, expected message fragment)
CASES = [
    ("ecr-scan-on-push", "repo", {"imageScanningConfiguration.scanOnPush": False}, None, "scanOnPush = true"),
    ("ecr-immutable-tags", "repo", {"imageTagMutability": "MUTABLE"}, None, "imageTagMutability is MUTABLE: set IMMUTABLE"),
    ("ecr-kms-encryption", "repo", {"encryptionConfigurations": [{"encryptionType": "AES256"}]}, None, "encryptionType: KMS"),
    ("ecr-no-public-policy", "repo-policy",
     {"policy": POLICY % '[{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "ecr:*"}]'}, None, "'Open' allows Principal '*'"),
    ("eks-control-plane-logging", "eks", {"enabledClusterLogTypes": ["api"]}, None, "lacks ['audit', 'authenticator']"),
    ("eks-secrets-encryption", "eks", {"encryptionConfig": DELETE}, None, "resources: [secrets]"),
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]}, None, "open to 0.0.0.0/0"),
    ("eks-public-endpoint-restricted", "eks", {"vpcConfig.publicAccessCidrs": DELETE}, None, "0.0.0.0/0 (EKS default)"),
    ("eks-public-endpoint-restricted", "eks", {}, {"allowedPublicCidrs": ["203.0.113.0/24"]},
     "198.51.100.7/32 is not within the policy's allowedPublicCidrs"),
    ("eks-supported-version", "eks", {"version": "1.29"}, None, "'1.29' is not supported here"),
    ("eks-node-group-no-ssh", "gpu", {"remoteAccess": {"ec2SshKey": "ops"}}, None, "remove remoteAccess"),
    ("nodes-imdsv2-hop-limit-1", "gpu-lt", {"metadataOptions.httpTokens": "optional"}, None, "httpTokens = required"),
    ("nodes-imdsv2-hop-limit-1", "gpu-lt", {"metadataOptions.httpPutResponseHopLimit": 2.0}, None, "HopLimit is 2.0: set 1"),
    ("nodes-encrypted-root-volume", "gpu-lt", {"blockDeviceMappings.0.ebs.encrypted": "false"}, None, "ebs.encrypted = true on block device /dev/xvda"),
    ("gpu-pool-taint", "gpu", {"taints": []}, None, "GPU node group without the taint"),
    ("iam-no-wildcard-action", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]'}, None, "'All' allows action ['s3:*']"),
    ("iam-no-wildcard-resource-on-write", "irsa-read-models",
     {"policy": POLICY % '[{"Sid": "Put", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}]'}, None,
     "'Put' allows ['s3:PutObject'] on Resource '*'"),
    ("iam-no-admin-on-workload-roles", "irsa-ecr", {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None,
     "AdministratorAccess is attached"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": _trust({"StringEquals": {f"{IRSA}:aud": "sts.amazonaws.com"},
                                  "StringLike": {f"{IRSA}:sub": "system:serviceaccount:mlserve-serving:*"}})}, None,
     "names subjects none"),
    ("iam-irsa-one-service-account", "irsa",
     {"assumeRolePolicy": _trust({"StringEquals": {f"{IRSA}:sub": "system:serviceaccount:a:b"}})}, None, "'<issuer>:aud' = 'sts.amazonaws.com'"),
    ("s3-public-access-blocked", "models-pab", {"blockPublicPolicy": False}, None, "set ['blockPublicPolicy'] = true"),
    ("s3-versioning", "models-versioning", {"versioningConfiguration.status": "Suspended"}, None, "status is 'Suspended'"),
    ("s3-kms-encryption", "models-sse", {"rules.0.applyServerSideEncryptionByDefault.sseAlgorithm": "AES256"}, None, "sseAlgorithm: aws:kms"),
    ("s3-tls-only", "models-policy", {"policy": POLICY % '[]'}, None, "aws:SecureTransport: 'false'"),
    ("sagemaker-endpoint-config-kms", "endpoint-config", {"kmsKeyArn": DELETE}, None, "set kmsKeyArn"),
    ("sagemaker-model-network-isolation", "model", {"enableNetworkIsolation": False}, None, "enableNetworkIsolation = true"),
    ("sagemaker-data-capture-encrypted", "endpoint-config", {"dataCaptureConfig.kmsKeyId": DELETE}, None, "dataCaptureConfig.kmsKeyId"),
    ("sagemaker-data-capture-enabled", "endpoint-config", {"dataCaptureConfig.enableCapture": DELETE}, None,
     "set dataCaptureConfig.enableCapture = true (pulumi-aws defaults it to false"),
    ("sagemaker-data-capture-enabled", "endpoint-config", {"dataCaptureConfig.enableCapture": False}, None, "captures nothing"),
    ("sagemaker-endpoint-rollback-alarms", "endpoint", {"deploymentConfig": DELETE}, None, "autoRollbackConfiguration.alarms"),
    ("log-group-retention", "logs", {"retentionInDays": DELETE}, None, "set retentionInDays (at least 7)"),
    ("log-group-retention", "logs", {}, {"minRetentionDays": 365}, "retentionInDays is 90: keep logs at least 365 days"),
    ("log-group-kms", "logs", {"kmsKeyId": DELETE}, None, "set kmsKeyId"),
    ("sns-topic-encrypted", "alarms", {"kmsMasterKeyId": DELETE}, None, "set kmsMasterKeyId"),
    ("k8s-requests-and-limits", "stable", {"spec.template.spec.containers.0.resources.limits": {}}, None,
     "container 'server': set resources.limits.memory"),
    ("k8s-liveness-readiness-probes", "stable", {"spec.template.spec.containers.0.readinessProbe": DELETE}, None, "add readinessProbe"),
    ("pss-run-as-non-root", "stable", {"spec.template.spec.securityContext.runAsNonRoot": DELETE}, None, "runAsNonRoot = true"),
    ("pss-run-as-non-root", "stable", {"spec.template.spec.securityContext.runAsUser": 0.0}, None, "runAsUser is 0"),
    ("k8s-read-only-root-filesystem", "stable", {"spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem": False}, None,
     "readOnlyRootFilesystem = true"),
    ("pss-no-privilege-escalation", "stable", {"spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation": True}, None,
     "allowPrivilegeEscalation = false"),
    ("pss-capabilities-dropped", "stable", {"spec.template.spec.containers.0.securityContext.capabilities": {"add": ["NET_ADMIN"]}}, None,
     "capabilities.drop = [ALL]"),
    ("pss-seccomp-runtime-default", "stable", {"spec.template.spec.securityContext.seccompProfile.type": "Unconfined"}, None,
     "seccompProfile.type = RuntimeDefault"),
    ("pss-no-host-namespaces", "stable", {"spec.template.spec.hostNetwork": True}, None, "remove ['hostNetwork']"),
    ("k8s-image-by-digest", "stable", {"spec.template.spec.containers.0.image": "mlserve/serving-app:latest"}, None, "is not pinned by digest"),
    ("k8s-not-default-namespace", "stable", {"metadata.namespace": DELETE}, None, "not default"),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route.1.weight": 20.0}, None, "[90, 20] sum to 110"),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route.1.weight": DELETE}, None, "some without a weight"),
    ("required-tags", "repo", {"tags": {"owner": ""}}, None, "missing tags ['owner']"),
    ("required-tags", "repo", {}, {"requiredTagKeys": ["environment", "team"]}, "missing tags ['team']"),
    ("physical-names-carry-stack", "logs", {"name": "/aws/eks/shared/cluster"}, None, "'/aws/eks/shared/cluster' does not carry the stack"),
    ("no-spot-gpu-pools", "gpu", {"capacityType": "SPOT"}, {"allowSpotGpu": False}, "GPU pool on spot capacity"),
    ("serving-min-replicas", "stable", {"spec.replicas": 1.0}, {"minServingReplicas": 2}, "spec.replicas is 1: run at least 2"),
    ("serving-min-replicas", "stable-hpa", {"spec.minReplicas": DELETE}, {"minServingReplicas": 2}, "spec.minReplicas is 1"),
    ("serving-min-replicas", "endpoint-config", {"productionVariants.0.initialInstanceCount": 1.0}, {"minServingReplicas": 2},
     "productionVariants 'stable': initialInstanceCount is 1: start at least 2 instances"),
    ("serving-min-replicas", "endpoint-scaling", {"minCapacity": 1.0}, {"minServingReplicas": 2},
     "minCapacity is 1: keep at least 2 instances per SageMaker variant"),
    ("alarm-has-action", "errors", {"alarmActions": []}, {"requireActions": True}, "set alarmActions"),
]


def test_every_rule_has_a_kebab_case_name_a_sourced_description_and_a_case():
    rules = all_rules()
    assert len(rules) >= 30
    assert len({r.name for r in rules}) == len(rules)
    sources = re.compile(r"Checkov CKV|CIS |EKS best practices|Pod Security Standards|Istio|AWS Security Hub|"
                         r"SageMaker|Well-Architected|mlserve")
    for rule in rules:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name), rule.name
        assert rule.description.endswith(".") and sources.search(rule.description), rule.description
        assert rule.enforcement_level is not None, rule.name
    covered = {case[0] for case in CASES} | set(STACK_RULE_TESTS)
    assert sorted(r.name for r in rules if r.name not in covered) == []


# Cases with no change violate through their config alone; every other case's config passes the compliant stack.
COMPLIANT = sorted({(c[0], json.dumps(c[3])) for c in CASES if c[2]})


@pytest.mark.parametrize("rule, config", COMPLIANT, ids=[f"{r}-{c}" for r, c in COMPLIANT])
def test_the_compliant_stack_passes(compliant_plan, rule, config):
    assert messages(compliant_plan, rule, json.loads(config)) == []


@pytest.mark.parametrize("rule, resource, change, config, expected", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_one_changed_property_gives_the_violation(compliant_plan, rule, resource, change, config, expected):
    found = messages(changed(compliant_plan, resource, change), rule, config)
    assert any(f.startswith(f"{resource}: ") and expected in f for f in found), found
    if change:  # one resource changed: only it violates
        assert all(f.startswith(f"{resource}: ") for f in found), found


STACK_RULE_TESTS = ["s3-bucket-guardrails-present", "vpc-flow-logs-enabled", "serving-autoscaler-and-pdb",
                    "mesh-strict-mtls", "cost-guard-gpu-nodes", "cost-guard-monthly-budget", "cost-estimate-complete"]


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


def test_serverless_endpoints_and_disabled_capture_need_no_key(compliant_plan):
    serverless = changed(compliant_plan, "endpoint-config", {
        "kmsKeyArn": DELETE, "productionVariants": [{"variantName": "s", "modelName": "m", "serverlessConfig": {
            "memorySizeInMb": 2048.0, "maxConcurrency": 5.0}}],
        "dataCaptureConfig.kmsKeyId": DELETE, "dataCaptureConfig.enableCapture": False})
    assert messages(serverless, "sagemaker-endpoint-config-kms") == []
    assert messages(serverless, "sagemaker-data-capture-encrypted") == []


def test_log_group_kms_only_where_the_config_asks(compliant_plan):
    plain = changed(compliant_plan, "logs", {"kmsKeyId": DELETE})
    assert messages(plain, "log-group-kms", {"required": False}) == []
    assert messages(plain, "log-group-kms", {"required": True}) != []


def test_a_wildcard_write_exemption_covers_only_the_policy_it_names(compliant_plan):
    """A vendor's published policy is accepted by name, with its reason in the config; nothing else is."""
    wild = changed(compliant_plan, "irsa-read-models", {
        "policy": POLICY % '[{"Sid": "Put", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]'})
    reason = {"exemptions": {"irsa-read-models": "a vendor's published policy, reviewed"}}
    assert messages(wild, "iam-no-wildcard-resource-on-write", reason) == []
    other = {"exemptions": {"mesh-lb-controller-policy": "a vendor's published policy, reviewed"}}
    assert messages(wild, "iam-no-wildcard-resource-on-write", other) != []
