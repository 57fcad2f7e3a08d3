"""Who may reach the EKS API: the CIDR and security group rules, the admin principals, and the
session-context fake the deployer's access entry is read through."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components.cluster_access import (
    admin_principals,
    private_cidr_problem,
    public_cidr_problem,
    security_group_problem,
)
from mlserve.offline import engine


@pytest.mark.parametrize("cidr", ["198.18.7.0/24", "52.94.76.10/32", "2600:1f14::/32"])
def test_real_public_ranges_may_reach_a_public_endpoint(cidr):
    assert public_cidr_problem(cidr) is None


@pytest.mark.parametrize(
    "cidr, expected",
    [
        ("0.0.0.0/0", "whole internet"),
        ("::/0", "whole internet"),
        ("192.0.2.0/24", "documentation range (192.0.2.0/24)"),
        ("198.51.100.0/24", "documentation range (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation range (203.0.113.0/24)"),
        ("203.0.113.8/29", "documentation range (203.0.113.0/24)"),
        ("2001:db8:1::/48", "documentation range (2001:db8::/32)"),
        ("203.0.113.7/24", "not a CIDR block"),
        ("office", "not a CIDR block"),
    ],
)
def test_public_endpoint_refuses_the_internet_documentation_ranges_and_non_cidrs(cidr, expected):
    problem = public_cidr_problem(cidr)
    assert problem is not None and expected in problem and repr(cidr) in problem


@pytest.mark.parametrize(
    "cidr, expected",
    [("10.30.0.0/16", None), ("172.16.4.0/24", None), ("192.168.0.0/16", None),
     ("0.0.0.0/0", "not inside an RFC 1918 range"), ("52.94.0.0/16", "not inside an RFC 1918 range"),
     ("10.0.0.0/7", "not inside an RFC 1918 range"), ("10.30.0.1/16", "not an IPv4 CIDR block"), ("fd00::/8", "not an IPv4")],
)
def test_private_access_comes_from_inside_rfc1918(cidr, expected):
    problem = private_cidr_problem(cidr)
    assert problem == expected if expected is None else expected in problem


@pytest.mark.parametrize("group_id, ok", [("sg-0123456789abcdef0", True), ("sg-01234567", True),
                                          ("sg-0123", False), ("0123456789abcdef0", False), ("sg-XYZ45678", False)])
def test_security_group_ids(group_id, ok):
    assert (security_group_problem(group_id) is None) is ok


DEPLOYER = "arn:aws:iam::123456789012:role/mlserve-deployer"
ADMIN = "arn:aws:iam::111122223333:role/platform-admins"


def test_the_deployer_gets_an_entry_of_its_own_unless_listed_already():
    assert admin_principals(DEPLOYER, [ADMIN]) == [("deployer", DEPLOYER), ("admin", ADMIN)]
    # Listed in adminRoleArns: one entry, not two (EKS answers a second one with 409).
    assert admin_principals(DEPLOYER, [ADMIN, DEPLOYER]) == [("admin", ADMIN), ("admin", DEPLOYER)]


def test_session_context_turns_an_assumed_role_session_into_its_role(run_pulumi):
    def program():
        for label, arn in (("assumed", "arn:aws:sts::123456789012:assumed-role/ci-deploy/run-42"),
                           ("user", "arn:aws:iam::123456789012:user/alice")):
            context = aws.iam.get_session_context_output(arn=arn)
            pulumi.export(label, pulumi.Output.all(context.issuer_arn, context.issuer_name, context.session_name))

    exports = run_pulumi(program).exports
    assert exports["assumed"] == ["arn:aws:iam::123456789012:role/ci-deploy", "ci-deploy", "run-42"]
    # Not an assumed role: the ARN itself, as the provider returns it.
    assert exports["user"] == ["arn:aws:iam::123456789012:user/alice", "", ""]


def test_the_offline_caller_is_an_assumed_role_session(run_pulumi):
    exports = run_pulumi(lambda: pulumi.export("arn", aws.get_caller_identity_output().arn)).exports
    assert exports["arn"] == engine.FAKE_CALLER_ARN
    assert exports["arn"].startswith("arn:aws:sts::") and ":assumed-role/" in exports["arn"]
