"""components/kms.py: every key has an explicit policy in which the account root administers
the key but only the named services and roles may use it."""

from __future__ import annotations

import json

import pulumi
import pytest

from components import kms

ACCOUNT, REGION = "123456789012", "us-west-2"


def _document(uses):
    return kms.key_policy_document(uses, account=ACCOUNT, partition="aws", region=REGION)


def test_root_administers_but_cannot_use_the_key():
    admin = _document([kms.via_service("s3")])["Statement"][0]
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    # Administration (kms:Put* covers PutKeyPolicy, so the account is never locked out), no use.
    assert "kms:*" not in admin["Action"] and "kms:Put*" in admin["Action"] and "kms:ScheduleKeyDeletion" in admin["Action"]
    assert not {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"} & set(admin["Action"])


def test_via_service_limits_use_to_one_service_of_this_account_and_region():
    statement = _document([kms.via_service("ecr")])["Statement"][1]
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"ecr.{REGION}.amazonaws.com",
                                                       "kms:CallerAccount": ACCOUNT}}
    assert "kms:Decrypt" in statement["Action"]


def test_cloudwatch_logs_may_use_the_key_for_the_named_log_groups_only():
    statement = _document([kms.cloudwatch_logs(log_group_names=["/aws/eks/mlserve-dev/cluster"])])["Statement"][1]
    assert statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert statement["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/eks/mlserve-dev/cluster"]}}


def test_service_principal_is_limited_to_this_account_and_a_source():
    use = kms.service_principal("Alarms", "cloudwatch.amazonaws.com", actions=["kms:Decrypt"],
                                source_arn="arn:{partition}:cloudwatch:{region}:{account}:alarm:mlserve-dev-*")
    statement = _document([use])["Statement"][1]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                      "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:mlserve-dev-*"}}


@pytest.mark.parametrize("make,match", [
    (lambda: kms.KeyUse(sid="bad sid", principal={"AWS": "x"}), "letters and digits"),
    (lambda: kms.KeyUse(sid="Ok", principal={"AWS": "x"}, actions=("kms:*",)), "administration"),
    (lambda: kms.KeyUse(sid="Ok", principal={"AWS": "x"}, actions=("s3:GetObject",)), "kms: actions"),
    (lambda: kms.cloudwatch_logs(log_group_names=[]), "at least one log group"),
    (lambda: _document([kms.via_service("s3"), kms.via_service("s3")]), "distinct sids"),
])
def test_bad_key_uses_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_key_declares_its_policy_rotation_and_alias(run_pulumi):
    def program():
        parent = pulumi.ComponentResource("mlserve:test:Parent", "parent")
        role = pulumi.Output.from_input("arn:aws:iam::123456789012:role/reader")
        kms.encryption_key("k", description="d", alias="alias/mlserve-dev/k", name_tag="k",
                           uses=[kms.via_service("s3"), kms.role_use("Reader", role)], parent=parent)

    plan = run_pulumi(program)
    key = plan.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30
    statements = json.loads(key.inputs["policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["KeyAdministration", "UseThroughS3", "Reader"]
    assert statements[2]["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/reader"}
    assert plan.one("aws:kms/alias:Alias").inputs["name"] == "alias/mlserve-dev/k"


def test_a_key_without_uses_is_refused_before_anything_is_declared(run_pulumi):
    with pytest.raises(ValueError, match="at least one KeyUse"):
        kms.encryption_key("k", description="d", alias="alias/x", name_tag="k", uses=[], parent=None)  # type: ignore[arg-type]
