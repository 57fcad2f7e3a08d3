"""The readers every rule shares: the dotted getter, the list view, policy documents, URNs and
property dependencies; and each rule's behaviour with no policy config (its schema's defaults)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from policies.props import as_list, get
from policies.rules import depends_on, json_document, stack_of, statements
from tests.policies.conftest import changed, messages


def test_get_walks_mappings_and_sequences_and_stops_at_anything_else():
    props = {"a": {"b": [{"c": 1}, {"c": 2}]}, "s": "text"}
    assert get(props, "a.b.1.c") == 2
    assert get(props, "a.b.2.c", "none") == "none"  # one past the end
    assert get(props, "a.b.x", "none") == "none"
    assert get(props, "s.0", "none") == "none"  # a string is not indexed
    assert get(props, "a.missing") is None


def test_as_list_takes_scalars_and_sequences_but_not_strings_apart():
    assert as_list(None) == [] and as_list("s3:GetObject") == ["s3:GetObject"] and as_list(("a", "b")) == ["a", "b"]


def test_policy_documents_come_as_json_or_mappings():
    assert json_document('{"Statement": {"Effect": "Allow"}}') == {"Statement": {"Effect": "Allow"}}
    assert json_document({"Statement": []}) == {"Statement": []}
    for bad in ("", "  ", "not json", "[1]", 5, None):
        assert json_document(bad) is None, bad
    assert statements({"Statement": {"Effect": "Allow"}}) == [{"Effect": "Allow"}]  # a single statement object
    assert statements({"Statement": ["x", {"Effect": "Deny"}]}) == [{"Effect": "Deny"}] and statements(None) == []


def test_stack_of_reads_the_urn():
    assert stack_of("urn:pulumi:prod::mlserve::aws:s3/bucket:Bucket::models") == "prod"


def test_depends_on_reads_one_input_of_a_stack_resource():
    class Resource:
        def __init__(self, urn, deps=None):
            self.urn, self.property_dependencies = urn, deps

    vpc = Resource("vpc")
    assert depends_on(Resource("log", {"vpcId": [vpc]}), "vpcId", "vpc")
    assert not depends_on(Resource("log", {"subnetId": [vpc]}), "vpcId", "vpc")
    assert not depends_on(Resource("log", None), "vpcId", "vpc")


def _singleton(plan):
    plan = copy.deepcopy(plan)
    repo = next(r for r in plan.resources if r.name == "repo")
    token = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"
    plan.resources.append(dataclasses.replace(repo, type=token, name="scanning", inputs={"scanType": "ENHANCED"},
                                              urn=repo.urn.replace("aws:ecr/repository:Repository::repo", f"{token}::scanning")))
    return plan


@pytest.mark.parametrize("rule, plan, violates", [
    # (rule, how the compliant plan changes, whether the rule's defaults refuse it)
    ("physical-names-carry-stack", _singleton, True),  # ownsAccountSingletons: false
    ("no-spot-gpu-pools", lambda p: changed(p, "gpu", {"capacityType": "SPOT"}), False),  # allowSpotGpu: true
    ("serving-min-replicas", lambda p: changed(p, "stable", {"spec.replicas": 1.0}), False),  # minServingReplicas: 1
    ("serving-min-replicas", lambda p: changed(p, "stable", {"spec.replicas": 0.0}), True),
    ("alarm-has-action", lambda p: changed(p, "errors", {"alarmActions": []}), False),  # requireActions: false
    ("cost-guard-gpu-nodes", lambda p: p, False),  # maxGpuNodes: 4, the compliant pool's maximum
    ("cost-guard-gpu-nodes", lambda p: changed(p, "gpu", {"scalingConfig.maxSize": 5.0}), True),
    ("cost-guard-monthly-budget", lambda p: p, True),  # monthlyBudgetUsd: 2000, under the compliant stack's ~$5,400
    ("log-group-retention", lambda p: changed(p, "logs", {"retentionInDays": 7.0}), False),  # minRetentionDays: 7
    ("log-group-retention", lambda p: changed(p, "logs", {"retentionInDays": 6.0}), True),
    ("log-group-kms", lambda p: changed(p, "logs", {"kmsKeyId": None}), True),  # required: true
    ("eks-supported-version", lambda p: changed(p, "eks", {"version": "1.35"}), False),
    ("iam-no-privilege-escalation", lambda p: changed(p, "irsa-read-models", {"policy": (
        '{"Statement": [{"Effect": "Allow", "Action": "iam:PutRolePolicy", "Resource": "*"}]}')}), True),  # no exemptions
])
def test_each_rule_without_config_applies_its_schema_defaults(compliant_plan, rule, plan, violates):
    assert bool(messages(plan(compliant_plan), rule)) is violates


def test_what_counts_as_a_wildcard_value_and_an_open_principal():
    from policies.documents import _is_wildcard, principal_is_open

    for wild in ("*", "?*", "arn:aws:iam::*:role/x", "arn:aws:s3:::*", "arn:aws:sns:us-west-2:123456789012:*"):
        assert _is_wildcard(wild), wild
    for narrow in ("arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/*-reader", "mlserve-*", "a:b:c:d:e:*", "arn:aws"):
        assert not _is_wildcard(narrow), narrow
    assert principal_is_open("*") and principal_is_open({"AWS": ["arn:aws:iam::1:root", "*"]})
    assert not principal_is_open("arn:aws:iam::123456789012:root") and not principal_is_open({"Service": "s3.amazonaws.com"})
