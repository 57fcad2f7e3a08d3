"""The whole pack against the shipped stacks: no mandatory violation, with each stack's own policy config."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from mlserve.offline import pack as policy_check
from policies import all_rules
from tests.policies.conftest import DELETE, changed


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shipped_stacks_pass_every_mandatory_rule(built_plan, stack):
    config = policy_check.load_config(policy_check.CONFIG_DIR / f"{stack}.json", all_rules())
    report = policy_check.check(built_plan(stack), config)
    assert [v for v in report.violations if v.level == "mandatory"] == []
    assert len(report.run) == len(all_rules())


def _statement(policy: str, statement: dict) -> str:
    document = json.loads(policy)
    return json.dumps({**document, "Statement": [*document["Statement"], statement]})


def _with(plan, name: str, path: str, edit):
    """`changed` with the new value computed from the old one."""
    current = next(r for r in plan.resources if r.name == name).inputs
    for part in path.split(".")[:-1]:
        current = current[int(part)] if isinstance(current, list) else current[part]
    return changed(plan, name, {path: edit(current[path.split(".")[-1]])})


def _added(plan, template: str, resource_type: str, name: str, inputs: dict):
    """`plan` with one more resource like `template` (same provider and parent), of another type."""
    plan = copy.deepcopy(plan)
    like = next(r for r in plan.resources if r.name == template)
    urn = like.urn.rsplit("::", 2)[0] + f"::{resource_type}::{name}"
    plan.resources.append(dataclasses.replace(like, urn=urn, type=resource_type, name=name, inputs=inputs, outputs=dict(inputs),
                                              dependencies=[], property_dependencies={}))
    return plan


LB = "service.beta.kubernetes.io/aws-load-balancer-"
# What the scanners' lists name, injected into prod's plan one at a time: (rule, resource reported, how).
BAD = {
    "a role trusting any AWS principal": ("iam-role-trust-named-principals", "cluster-cluster-role", lambda p: changed(
        p, "cluster-cluster-role", {"assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})})),
    "a KMS key with rotation off": ("kms-key-enabled-and-rotated", "model-store-key",
                                    lambda p: changed(p, "model-store-key", {"enableKeyRotation": False})),
    "a key policy granting kms:* to *": ("kms-key-policy-scoped", "model-store-key", lambda p: _with(
        p, "model-store-key", "policy", lambda v: _statement(v, {"Sid": "Everyone", "Effect": "Allow", "Principal": "*",
                                                                "Action": "kms:*", "Resource": "*"}))),
    "a default security group with rules": ("vpc-default-security-group-closed", "network-default-sg", lambda p: changed(
        p, "network-default-sg", {"ingress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}]})),
    "a private subnet mapping public IPs": ("subnet-no-public-ip-on-launch", "network-private-us-west-2a",
                                            lambda p: changed(p, "network-private-us-west-2a", {"mapPublicIpOnLaunch": True})),
    "a bucket policy allowing *": ("s3-bucket-policy-not-public", "model-store-bucket-policy", lambda p: _with(
        p, "model-store-bucket-policy", "policy", lambda v: _statement(v, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                                          "Resource": "arn:aws:s3:::x/*"}))),
    "an SNS topic policy allowing *": ("sns-topic-policy-not-public", "alarms-topic-policy", lambda p: _with(
        p, "alarms-topic-policy", "policy", lambda v: _statement(v, {"Effect": "Allow", "Principal": {"AWS": "*"},
                                                                    "Action": "sns:Publish", "Resource": "*"}))),
    "a trail without KMS": ("cloudtrail-encrypted-and-validated", "model-store-trail",
                            lambda p: changed(p, "model-store-trail", {"kmsKeyId": DELETE})),
    "a trail without log validation": ("cloudtrail-encrypted-and-validated", "model-store-trail",
                                       lambda p: changed(p, "model-store-trail", {"enableLogFileValidation": False})),
    "an IAM Allow with NotResource": ("iam-no-allow-not-resource", "serving-stable-read-model", lambda p: _with(
        p, "serving-stable-read-model", "policy", lambda v: _statement(v, {"Effect": "Allow", "Action": "s3:GetObject",
                                                                          "NotResource": "arn:aws:s3:::x/*"}))),
    "writes on * behind a condition that restricts nothing": ("iam-no-wildcard-resource-on-write", "sagemaker-execution-policy", lambda p: _with(
        p, "sagemaker-execution-policy", "policy", lambda v: _statement(v, {
            "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}))),
    "cluster admin for an account root": ("eks-admin-access-named-roles", "cluster-deployer-cluster-admin", lambda p: changed(
        p, "cluster-deployer-cluster-admin", {"principalArn": "arn:aws:iam::123456789012:root"})),
    "cluster admin for a wildcard": ("eks-admin-access-named-roles", "cluster-deployer-cluster-admin",
                                     lambda p: changed(p, "cluster-deployer-cluster-admin", {"principalArn": "*"})),
    "a mounted service-account token": ("k8s-no-service-account-token", "serving-stable-deployment", lambda p: changed(
        p, "serving-stable-deployment", {"spec.template.spec.automountServiceAccountToken": True})),
    "a hostPath volume": ("pss-no-host-path-or-port", "serving-stable-deployment", lambda p: changed(
        p, "serving-stable-deployment", {"spec.template.spec.volumes.0": {"name": "tmp", "hostPath": {"path": "/"}}})),
    "a host port": ("pss-no-host-path-or-port", "serving-stable-deployment", lambda p: changed(
        p, "serving-stable-deployment", {"spec.template.spec.containers.0.ports.0.hostPort": 8080.0})),
    "an RBAC wildcard": ("k8s-rbac-no-wildcards", "batch-role", lambda p: _added(
        p, "serving-stable-deployment", "kubernetes:rbac.authorization.k8s.io/v1:Role", "batch-role", {
            "metadata": {"name": "batch", "namespace": "mlserve-serving"},
            "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]})),
    "a namespace without a NetworkPolicy": ("k8s-namespace-network-policy", "batch-namespace", lambda p: _added(
        p, "mesh-serving-namespace", "kubernetes:core/v1:Namespace", "batch-namespace", {"metadata": {"name": "mlserve-batch"}})),
    "an ALLOW policy that allows everything": ("istio-allow-policy-names-callers", "mesh-authorization",
                                               lambda p: changed(p, "mesh-authorization", {"spec.rules": [{}]})),
    "a plaintext Gateway on an internet-facing load balancer": ("istio-gateway-no-plaintext-internet", "mesh-gateway", lambda p: _with(
        p, "mesh-ingress-gateway", "values.service.annotations", lambda v: {**v, f"{LB}scheme": "internet-facing"})),
    "a REJECT-only flow log": ("vpc-flow-logs-enabled", "network-vpc",
                               lambda p: changed(p, "network-flow-log", {"trafficType": "REJECT"})),
    "a flow log on another VPC": ("vpc-flow-logs-enabled", "network-vpc",
                                  lambda p: changed(p, "network-flow-log", {"vpcId": "vpc-0123456789abcdef0"})),
    "rollback on an alarm that is not the stack's": ("sagemaker-endpoint-rollback-alarms", "sagemaker-endpoint", lambda p: changed(
        p, "sagemaker-endpoint", {"deploymentConfig.autoRollbackConfiguration.alarms": [{"alarmName": "any-alarm"}]})),
}


@pytest.mark.parametrize("bad", list(BAD))
def test_prod_refuses_what_the_scanners_refuse(built_plan, bad):
    """Issue 16: each of these passed the whole pack on prod's plan; now each is a mandatory violation."""
    rule, reported, inject = BAD[bad]
    config = policy_check.load_config(policy_check.CONFIG_DIR / "prod.json", all_rules())
    report = policy_check.check(inject(built_plan("prod")), config)
    found = {(v.rule, v.resource_name) for v in report.violations if v.level == "mandatory"}
    assert (rule, reported) in found, sorted(found)
