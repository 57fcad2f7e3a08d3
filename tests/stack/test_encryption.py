"""Customer managed keys with explicit policies, used for every log group; the default security
group closed. Checked on the whole program of both stacks."""

from __future__ import annotations

import json

import pytest

STACKS = ["dev", "prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_log_group_is_encrypted_with_a_key_of_this_stack(built_plan, stack):
    plan = built_plan(stack)
    key_arns = {r.outputs["arn"] for r in plan.of_type("aws:kms/key:Key")}
    log_groups = plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert log_groups
    for log_group in log_groups:
        assert log_group.inputs.get("kmsKeyId") in key_arns, f"{log_group.inputs['name']} has no key of this stack"


@pytest.mark.parametrize("stack", STACKS)
def test_every_key_has_a_policy_naming_who_may_use_it(built_plan, stack):
    plan = built_plan(stack)
    keys = plan.of_type("aws:kms/key:Key")
    assert keys
    for key in keys:
        assert key.inputs.get("enableKeyRotation") is True, key.name
        statements = json.loads(key.inputs["policy"])["Statement"]
        uses = [s for s in statements if s["Sid"] != "KeyAdministration"]
        assert uses, f"{key.name}: only the administration statement"
        for use in uses:
            # Each use is a service (by principal or kms:ViaService) or a named role: never the
            # whole account without a condition.
            names_service = "Service" in use["Principal"] or "kms:ViaService" in json.dumps(use.get("Condition", {}))
            names_role = ":role/" in json.dumps(use["Principal"])
            assert names_service or names_role, f"{key.name}: {use['Sid']} grants the account without a condition"


@pytest.mark.parametrize("stack", STACKS)
def test_each_log_group_key_lets_cloudwatch_logs_use_it_for_that_group(built_plan, stack):
    plan = built_plan(stack)
    keys = {r.outputs["arn"]: r for r in plan.of_type("aws:kms/key:Key")}
    for log_group in plan.of_type("aws:cloudwatch/logGroup:LogGroup"):
        statements = json.loads(keys[log_group.inputs["kmsKeyId"]].inputs["policy"])["Statement"]
        logs = [s for s in statements if s["Principal"] == {"Service": "logs.us-west-2.amazonaws.com"}]
        assert logs, f"CloudWatch Logs cannot use the key of {log_group.inputs['name']}: association would fail"
        arns = logs[0]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        assert any(arn.endswith(":log-group:" + log_group.inputs["name"]) for arn in arns)


@pytest.mark.parametrize("stack", STACKS)
def test_the_default_security_group_has_no_rules(built_plan, stack):
    plan = built_plan(stack)
    default = plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs["vpcId"] == plan.one("aws:ec2/vpc:Vpc").id, "not the stack's VPC's default group"
    assert default.inputs["ingress"] == [] and default.inputs["egress"] == []
