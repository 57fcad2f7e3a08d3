"""The PR comment on two plan files: the real dev plan (head) and a base edited from it. The head is
judged again by this checkout's pack and config (the base's, in CI), whatever it says of itself."""

from __future__ import annotations

import copy
import json

import pytest

from mlserve.offline import plan as plan_cli
from mlserve.offline import pr_comment, verdict
from mlserve.offline.judge import judge
from tests.conftest import ROOT
from tests.stack import conftest as stack_conftest


@pytest.fixture(scope="module")
def head() -> dict:
    """dev's plan JSON as `make preview` writes it (the worker's cached plan: tests/stack/conftest.py)."""
    if "dev" not in stack_conftest._PLANS:
        stack_conftest._PLANS["dev"] = plan_cli.build("dev")
    plan = stack_conftest._PLANS["dev"]
    checks = verdict.evaluate(plan, ROOT / "policies" / "config" / "dev.json")
    return json.loads(json.dumps({**plan_cli.to_json(plan), **checks.to_json()}, default=str))


def _base(head: dict) -> dict:
    """The base branch's plan: without the GPU node group, with a bigger CPU pool, one extra
    resource since removed, and a GPU pool line $100 cheaper at max and $40 at min."""
    base = copy.deepcopy(head)
    base["resources"] = [r for r in base["resources"] if r["name"] != "cluster-gpu"]
    pool = next(r for r in base["resources"] if r["name"] == "cluster-cpu")
    pool["inputs"]["scalingConfig"]["maxSize"] += 2
    repo = next(r for r in base["resources"] if r["type"] == "aws:ecr/repository:Repository")
    base["resources"].append({**repo, "urn": repo["urn"].replace("registry-repository", "old-repository"), "name": "old-repository"})
    gpu = next(l for l in base["cost"]["lines"] if l["item"].startswith("cluster-gpu"))
    gpu["monthlyMax"] -= 100
    gpu["monthlyMin"] -= 40
    base["cost"]["monthlyMax"] -= 100
    base["cost"]["monthlyMin"] -= 40
    return base


def _write(tmp_path, base: dict | None, head: dict | None) -> None:
    for side, plan in (("base", base), ("head", head)):
        (tmp_path / side).mkdir(exist_ok=True)
        if plan is not None:
            (tmp_path / side / "plan-dev.json").write_text(json.dumps(plan))


def _comment(tmp_path, *extra: str) -> tuple[str, list[str]]:
    out, verdict = tmp_path / "comment.md", tmp_path / "verdict"
    assert pr_comment.main(["--base", str(tmp_path / "base"), "--head", str(tmp_path / "head"), "--stacks", "dev",
                            "--commit", "0123456789abcdef", "--base-commit", "fedcba9876543210", "--out", str(out),
                            "--verdict-out", str(verdict), *extra]) == 0
    return out.read_text(), verdict.read_text().splitlines()


def test_the_comment_shows_old_and_new_values_policies_and_both_cost_changes(tmp_path, head):
    _write(tmp_path, _base(head), head)
    text, verdict = _comment(tmp_path)
    lines = text.splitlines()
    assert lines[0] == pr_comment.MARKER and lines[1] == "## mlserve preview for 0123456789ab"
    rules, cost = head["policy"]["rulesRun"], head["cost"]
    row = next(line for line in lines if line.startswith("| dev |"))
    assert row == (f"| dev | {head['summary']['total']} | 1 | 1 | 1 | ✅ {rules}/{rules} passed, 0 mandatory, 0 advisory | "
                   f"${cost['monthlyMin']:,.2f} - ${cost['monthlyMax']:,.2f} | +$40.00 / +$100.00 |")
    assert "**Added (1)**\n\n- `aws:eks/nodeGroup:NodeGroup` **cluster-gpu**" in text
    max_size = int(next(r for r in head["resources"] if r["name"] == "cluster-cpu")["inputs"]["scalingConfig"]["maxSize"])
    assert (f"**Changed (1)**\n\n- `aws:eks/nodeGroup:NodeGroup` **cluster-cpu**\n"
            f"  - `scalingConfig.maxSize`: `{max_size + 2}` → `{max_size}`") in text
    assert "**Removed (1)**\n\n- `aws:ecr/repository:Repository` **old-repository**" in text
    gpu_row = next(line for line in lines if line.startswith("| node pools: cluster-gpu"))
    assert gpu_row.endswith("| +$40.00 | +$100.00 |")
    assert f"| **total** | **${cost['monthlyMin']:,.2f}** | **${cost['monthlyMax']:,.2f}** | **+$40.00** | **+$100.00** |" in text
    assert "judged and priced by the policy pack and config of the base commit fedcba987654" in text
    assert verdict == ["success", f"base pack: dev {rules}/{rules}"]


def test_the_heads_own_verdict_is_ignored_and_this_checkouts_pack_judges(tmp_path, head):
    """A pull request that breaks a rule and writes itself a clean bill of health still gets the violation."""
    forged = copy.deepcopy(head)
    repo = next(r for r in forged["resources"] if r["type"] == "aws:ecr/repository:Repository")
    repo["inputs"]["imageTagMutability"] = "MUTABLE"
    assert forged["policy"]["mandatory"] == 0  # what the pull request's own run claims
    _write(tmp_path, head, forged)
    text, verdict = _comment(tmp_path)
    assert "| mandatory | `ecr-immutable-tags` | `aws:ecr/repository:Repository` registry-repository |" in text
    assert "  - `imageTagMutability`: `IMMUTABLE` → `MUTABLE`" in text
    assert verdict[0] == "failure" and "dev: 1 mandatory violation(s)" in verdict[1]


def test_the_config_that_judges_is_this_checkouts_not_the_pull_requests(tmp_path, head):
    forged = copy.deepcopy(head)
    next(r for r in forged["resources"] if r["type"] == "aws:ecr/repository:Repository")["inputs"]["imageTagMutability"] = "MUTABLE"
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    config = json.loads((ROOT / "policies" / "config" / "dev.json").read_text())
    config["ecr-immutable-tags"] = {"enforcementLevel": "advisory"}
    (config_dir / "dev.json").write_text(json.dumps(config))
    _write(tmp_path, head, forged)
    text, verdict = _comment(tmp_path, "--policy-config-dir", str(config_dir))
    assert "| advisory | `ecr-immutable-tags` |" in text and verdict[0] == "success"


def test_secrets_show_as_masked_on_both_sides(tmp_path, head):
    base, changed = copy.deepcopy(head), copy.deepcopy(head)
    topic = next(r for r in changed["resources"] if r["type"] == "aws:sns/topic:Topic")
    for plan, value in ((base, "hunter2"), (changed, "correct-horse")):
        target = next(r for r in plan["resources"] if r["urn"] == topic["urn"])
        target["inputs"]["deliveryPolicy"] = value
        target["inputs"]["webhookPassword"] = value
        target["secretInputs"] = ["deliveryPolicy"]
    _write(tmp_path, base, changed)
    text, _ = _comment(tmp_path)
    assert "  - `deliveryPolicy`: `[secret]` → `[secret]`" in text
    assert "  - `webhookPassword`: `[secret]` → `[secret]`" in text, "a credential-named key is masked without the marker"
    assert "hunter2" not in text and "correct-horse" not in text


def test_a_change_under_policies_is_flagged_first(tmp_path, head):
    _write(tmp_path, head, head)
    changed = tmp_path / "changed-files"
    changed.write_text("README.md\npolicies/cost.py\npolicies/config/prod.json\n")
    text, _ = _comment(tmp_path, "--changed-files", str(changed))
    third = text.splitlines()[3]
    assert third.startswith("⚠️ **This pull request changes the policy pack** (`policies/cost.py`, `policies/config/prod.json`)")
    assert "pack and config of the base commit fedcba987654" in third
    changed.write_text("README.md\n")
    assert "changes the policy pack" not in _comment(tmp_path, "--changed-files", str(changed))[0]


@pytest.mark.parametrize("status, banner", [
    ("2", "❌ **`make test` failed** on this branch (exit status 2)"),
    (None, "❌ **`make test` did not report**"),
])
def test_a_failing_or_missing_test_run_still_makes_a_comment_that_says_so(tmp_path, head, status, banner):
    _write(tmp_path, head, head)
    status_file = tmp_path / "test-status"
    if status is not None:
        status_file.write_text(status + "\n")
    text, verdict = _comment(tmp_path, "--tests-status", str(status_file), "--run-conclusion", "failure")
    assert text.splitlines()[3].startswith(banner)
    assert verdict[0] == "failure" and "make test" in verdict[1]


def test_no_head_plan_is_a_failure_said_at_the_top(tmp_path):
    _write(tmp_path, None, None)
    text, verdict = _comment(tmp_path)
    assert text.splitlines()[3].startswith("❌ **dev: no verdict**: no plan-dev.json from the pull request's run")
    assert "| dev | - | - | - | - | ❌ not judged | - | - |" in text
    assert verdict == ["failure", "dev: no verdict"]


def test_a_malformed_head_plan_is_no_verdict_not_a_crash(tmp_path):
    judged = judge("dev", {"resources": [{"urn": "u"}]})
    assert judged.plan is None and "resource 0 of the plan is malformed" in judged.error


def test_violations_and_a_missing_base(head):
    bad = copy.deepcopy(head)
    next(r for r in bad["resources"] if r["name"] == "cluster-gpu")["inputs"]["capacityType"] = "SPOT"
    text = pr_comment.render({"prod": (None, judge("prod", bad))})
    assert "<details open><summary><b>prod</b>" in text
    assert "_No base plan for this stack: every resource counts as added._" in text
    assert "| mandatory | `no-spot-gpu-pools` |" in text
    assert f"| prod | {bad['summary']['total']} | {len(bad['resources'])} | 0 | 0 |" in text and "| new / new |" in text


def test_text_from_the_pull_request_cannot_break_the_markdown_or_mention_anyone(tmp_path, head):
    renamed = copy.deepcopy(head)
    next(r for r in renamed["resources"] if r["name"] == "cluster-gpu")["name"] = "gpu`| @security-team\n# heading"
    text = pr_comment.render({"dev": (head, judge("dev", renamed))}, changed_files=["policies/`x`|@y.py"])
    assert "@security-team" not in text and "@y" not in text and "\n# heading" not in text
    assert "gpu'/ @\u200bsecurity-team # heading" in text and "`policies/'x'/@\u200by.py`" in text
