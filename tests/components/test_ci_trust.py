"""CiTrust's pure parts: the subjects GitHub presents, the trust document, and Args that refuse a
trust that would admit the wrong repository or collide."""

from __future__ import annotations

import pytest

from components.ci_trust import (
    AUDIENCE,
    CiEnvironment,
    CiTrustArgs,
    environment_subject,
    github_trust_policy,
    pull_request_subject,
)

DEV = CiEnvironment(name="dev", preview_role_name="mlserve-dev-github-preview", deploy_role_name="mlserve-dev-github-deploy")


def test_the_subjects_are_githubs_default_formats():
    assert pull_request_subject("octo-org/octo-repo") == "repo:octo-org/octo-repo:pull_request"
    assert environment_subject("octo-org/octo-repo", "prod") == "repo:octo-org/octo-repo:environment:prod"


def test_the_trust_document_pins_subject_and_audience_with_string_equals():
    (statement,) = github_trust_policy("arn:aws:iam::1:oidc-provider/x", "repo:o/r:pull_request")["Statement"]
    assert statement["Condition"] == {"StringEquals": {"token.actions.githubusercontent.com:aud": AUDIENCE,
                                                       "token.actions.githubusercontent.com:sub": "repo:o/r:pull_request"}}


@pytest.mark.parametrize("changes, error", [
    ({"repository": "octo-org"}, "repository 'octo-org'"),
    ({"repository": "octo-org/octo-repo/extra"}, "repository"),
    ({"environments": ()}, "at least one"),
    ({"environments": (DEV, DEV)}, "each once"),
    ({"environments": (CiEnvironment(name="Prod", preview_role_name="a", deploy_role_name="b"),)}, "environment 'Prod'"),
    ({"environments": (CiEnvironment(name="dev", preview_role_name="same", deploy_role_name="same"),)}, "unique"),
    ({"deploy_policy_arns": ()}, "at least one policy"),
])
def test_args_refuse_a_trust_that_would_admit_the_wrong_thing(changes, error):
    with pytest.raises(ValueError, match=error):
        CiTrustArgs(**{"repository": "octo-org/octo-repo", "environments": (DEV,), **changes})
