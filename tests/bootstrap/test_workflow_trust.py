"""The workflows against the bootstrap's trust policies: for every job, the OIDC subject GitHub gives
it (from its trigger and environment, as GitHub documents), and which of the bootstrap's roles admit
that subject. A pull request's jobs reach the preview roles only; each deploy job its own
environment's deploy role only; the comment job and anything else, no role at all.
https://docs.github.com/en/actions/reference/security/oidc#example-subject-claims"""

from __future__ import annotations

import json

import pytest
import yaml

from components.ci_trust import AUDIENCE, GITHUB_ISSUER
from tests.bootstrap.conftest import REPOSITORY
from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def subjects(job: dict, on: dict) -> set[str]:
    """Every `sub` a job of a workflow with triggers `on` can present."""
    if "environment" in job:
        return {f"repo:{REPOSITORY}:environment:{job['environment']}"}
    found = set()
    for event, spec in on.items():
        if event in ("pull_request", "pull_request_target"):
            found.add(f"repo:{REPOSITORY}:pull_request")
        elif event == "push":
            found |= {f"repo:{REPOSITORY}:ref:refs/heads/{branch}" for branch in (spec or {}).get("branches", ["main"])}
        elif event == "workflow_run":  # runs on the default branch
            found.add(f"repo:{REPOSITORY}:ref:refs/heads/main")
    return found


def admitting(plan, subject: str) -> set[str]:
    """The names of the bootstrap roles whose trust policy admits a GitHub token with `subject`."""
    names = set()
    for role in plan.of_type("aws:iam/role:Role"):
        for statement in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            equals = statement.get("Condition", {}).get("StringEquals", {})
            if (statement["Effect"] == "Allow" and equals.get(f"{GITHUB_ISSUER}:sub") == subject
                    and equals.get(f"{GITHUB_ISSUER}:aud") == AUDIENCE):
                names.add(role.inputs["name"])
    return names


def _jobs() -> list:
    found = []
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        on = workflow.pop(True)
        found += [pytest.param(job, on, id=f"{path.stem}:{name}") for name, job in workflow["jobs"].items()]
    return found


PREVIEW_ROLES = {"mlserve-dev-github-preview", "mlserve-prod-github-preview"}
# The roles each job could reach if it asked for a token: a pull request may edit its workflow to
# add `id-token: write`, so every pull-request job counts, not only the one that asks today.
EXPECTED = {
    "pr-preview:offline-preview": PREVIEW_ROLES,
    "pulumi-preview:pulumi-preview": PREVIEW_ROLES,
    "deploy:dev": {"mlserve-dev-github-deploy"},
    "deploy:prod": {"mlserve-prod-github-deploy"},
}  # every other job (the comment's, run on the default branch): none


@pytest.mark.parametrize("job, on", _jobs())
def test_each_job_reaches_exactly_the_roles_meant_for_it(shipped_plan, job, on, request):
    name = request.node.callspec.id
    reached = set().union(*(admitting(shipped_plan, s) for s in subjects(job, on)))
    assert reached == EXPECTED.get(name, set())


def test_a_branch_push_or_a_pull_request_bound_to_prod_is_what_the_environment_rules_must_stop(shipped_plan):
    """Why the environments' deployment-branch rule is part of the trust (docs/ci.md): a job that
    binds `environment: prod` presents prod's deploy subject whatever ref it runs on."""
    assert admitting(shipped_plan, f"repo:{REPOSITORY}:environment:prod") == {"mlserve-prod-github-deploy"}
    assert admitting(shipped_plan, f"repo:{REPOSITORY}:ref:refs/heads/feature") == set()
    assert admitting(shipped_plan, f"repo:other-org/mlserve:pull_request") == set()
