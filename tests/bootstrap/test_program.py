"""The bootstrap program (bootstrap/__main__.py) under the offline engine: its trust policies, read
back as the JSON IAM gets, pin the repository, the environment or pull-request subject, and the
audience; preview roles read and never write; settings are refused before anything is declared."""

from __future__ import annotations

import json

import pytest

from components.ci_trust import AUDIENCE, DATA_READS, DEPLOY_SESSION_SECONDS, GITHUB_ISSUER
from mlserve.offline import engine
from mlserve.stack.settings import SettingsError
from tests.bootstrap.conftest import REPOSITORY, shipped_config

PROVIDER_ARN = f"arn:aws:iam::{engine.FAKE_ACCOUNT_ID}:oidc-provider/{GITHUB_ISSUER}"


def _trust(plan: engine.Plan, role_name: str) -> dict:
    role = next(r for r in plan.of_type("aws:iam/role:Role") if r.inputs["name"] == role_name)
    return json.loads(role.inputs["assumeRolePolicy"])


def _attached(plan: engine.Plan, role_name: str) -> list[str]:
    return sorted(a.inputs["policyArn"] for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                  if a.inputs["role"] == role_name)


def test_the_account_gets_one_github_oidc_provider_for_sts(shipped_plan):
    (provider,) = shipped_plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == f"https://{GITHUB_ISSUER}" and provider.inputs["clientIdLists"] == [AUDIENCE]
    assert shipped_plan.exports["github_oidc_provider_arn"] == PROVIDER_ARN


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_each_role_trusts_exactly_one_subject_of_the_repository_for_sts(shipped_plan, environment):
    for role, subject in ((f"mlserve-{environment}-github-preview", f"repo:{REPOSITORY}:pull_request"),
                          (f"mlserve-{environment}-github-deploy", f"repo:{REPOSITORY}:environment:{environment}")):
        (statement,) = _trust(shipped_plan, role)["Statement"]
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": PROVIDER_ARN}
        assert statement["Condition"] == {"StringEquals": {f"{GITHUB_ISSUER}:aud": AUDIENCE, f"{GITHUB_ISSUER}:sub": subject}}


def test_no_role_trusts_a_wildcard_or_another_principal(shipped_plan):
    roles = shipped_plan.of_type("aws:iam/role:Role")
    assert len(roles) == 4
    for role in roles:
        text = role.inputs["assumeRolePolicy"]
        assert "*" not in text and "StringLike" not in text and '"AWS"' not in text, role.inputs["name"]


def test_preview_roles_read_and_deploy_roles_deploy(shipped_plan):
    for environment in ("dev", "prod"):
        assert _attached(shipped_plan, f"mlserve-{environment}-github-preview") == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        assert _attached(shipped_plan, f"mlserve-{environment}-github-deploy") == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    sessions = {r.inputs["name"]: r.inputs["maxSessionDuration"] for r in shipped_plan.of_type("aws:iam/role:Role")}
    assert sessions["mlserve-prod-github-deploy"] == DEPLOY_SESSION_SECONDS and sessions["mlserve-prod-github-preview"] == 3600


def test_a_preview_role_cannot_read_data_with_pulumi_cloud_state(shipped_plan):
    limits = next(p for p in shipped_plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == "mlserve-prod-github-preview")
    statements = {s["Sid"]: s for s in json.loads(limits.inputs["policy"])["Statement"]}
    assert set(statements) == {"DenyDataReads", "DenyObjectReadsButState"}
    assert statements["DenyObjectReadsButState"] == {"Sid": "DenyObjectReadsButState", "Effect": "Deny",
                                                     "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": "*"}
    assert {"secretsmanager:GetSecretValue", "ssm:GetParameter", "logs:GetLogEvents"} <= set(statements["DenyDataReads"]["Action"])
    assert set(statements["DenyDataReads"]["Action"]) | {"s3:GetObject", "s3:GetObjectVersion"} == set(DATA_READS)


def test_with_s3_state_each_preview_role_reads_only_its_own_environments_state(run_bootstrap):
    state = {"bucket": "acme-pulumi-state", "secretsKeyArn": "arn:aws:kms:us-west-2:123456789012:key/abcd"}
    plan = run_bootstrap(shipped_config(**{"mlserve-bootstrap:state": json.dumps(state)}))
    for environment, other in (("dev", "prod"), ("prod", "dev")):
        policy = next(p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == f"mlserve-{environment}-github-preview")
        statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
        mine = [f"arn:aws:s3:::acme-pulumi-state/.pulumi/meta.yaml", f"arn:aws:s3:::acme-pulumi-state/.pulumi/stacks/mlserve/{environment}.json*"]
        assert statements["ReadState"]["Resource"] == mine and statements["DenyObjectReadsButState"]["NotResource"] == mine
        assert not any(other in arn for arn in statements["ReadState"]["Resource"])
        assert statements["ListState"]["Condition"] == {"StringLike": {"s3:prefix": [".pulumi/*"]}}
        assert statements["DecryptStateSecrets"] == {"Sid": "DecryptStateSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"],
                                                     "Resource": state["secretsKeyArn"]}


def test_an_account_with_a_github_provider_reuses_it(run_bootstrap):
    existing = f"arn:aws:iam::210987654321:oidc-provider/{GITHUB_ISSUER}"
    plan = run_bootstrap(shipped_config(**{"mlserve-bootstrap:existingOidcProviderArn": existing,
                                           "mlserve-bootstrap:environments": '["prod"]'}))
    assert plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    assert sorted(r.inputs["name"] for r in plan.of_type("aws:iam/role:Role")) == ["mlserve-prod-github-deploy", "mlserve-prod-github-preview"]
    assert _trust(plan, "mlserve-prod-github-deploy")["Statement"][0]["Principal"] == {"Federated": existing}


@pytest.mark.parametrize("overrides, problem", [
    ({"mlserve-bootstrap:repository": None}, "mlserve-bootstrap:repository: required, not set"),
    ({"mlserve-bootstrap:repository": "https://github.com/example-org/mlserve"}, "mlserve-bootstrap:repository = "),
    ({"mlserve-bootstrap:environments": '["dev", "dev"]'}, "each environment once"),
    ({"mlserve-bootstrap:environments": '["Prod"]'}, "'Prod': lowercase letters"),
    ({"mlserve-bootstrap:existingOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/example.com"},
     "mlserve-bootstrap:existingOidcProviderArn = "),
    ({"mlserve-bootstrap:deployPolicy": '["x"]'}, "mlserve-bootstrap:deployPolicy: unknown key"),
])
def test_bad_settings_are_refused_naming_the_key_and_nothing_is_declared(run_bootstrap, overrides, problem):
    config = {k: v for k, v in {**shipped_config(), **overrides}.items() if v is not None}
    plan = engine.Plan(stack="shared")
    with pytest.raises(SettingsError, match="Pulumi.shared.yaml") as raised:
        run_bootstrap(config, plan=plan)
    assert any(p.startswith(problem) or problem in p for p in raised.value.problems), raised.value.problems
    assert plan.resources == []
