"""The PR comment script on two plan files: the real dev plan (head) and a base edited from it."""

from __future__ import annotations

import copy
import json

import pytest

from mlserve.offline import plan as plan_cli
from mlserve.offline import pr_comment


@pytest.fixture(scope="module")
def head(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("head") / "plan-dev.json"
    assert plan_cli.main(["--stack", "dev", "--json-out", str(out)]) == 0
    return json.loads(out.read_text())


def _base(head: dict) -> dict:
    """The base branch's plan: without the GPU node group, with a mutable repository, one extra
    resource since removed, and a cheaper GPU pool line."""
    base = copy.deepcopy(head)
    base["resources"] = [r for r in base["resources"] if r["name"] != "cluster-gpu"]
    repo = next(r for r in base["resources"] if r["type"] == "aws:ecr/repository:Repository")
    repo["inputs"]["imageTagMutability"] = "MUTABLE"
    base["resources"].append({**repo, "urn": repo["urn"].replace("registry-repository", "old-repository"), "name": "old-repository"})
    gpu = next(l for l in base["cost"]["lines"] if l["item"].startswith("cluster-gpu"))
    gpu["monthlyMax"] -= 100
    base["cost"]["monthlyMax"] -= 100
    return base


def test_the_comment_shows_changes_policies_and_cost(tmp_path, head):
    (tmp_path / "base").mkdir(), (tmp_path / "head").mkdir()
    (tmp_path / "base" / "plan-dev.json").write_text(json.dumps(_base(head)))
    (tmp_path / "head" / "plan-dev.json").write_text(json.dumps(head))
    out = tmp_path / "comment.md"
    assert pr_comment.main(["--base", str(tmp_path / "base"), "--head", str(tmp_path / "head"), "--stacks", "dev",
                            "--commit", "0123456789abcdef", "--out", str(out)]) == 0
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == pr_comment.MARKER and lines[1] == "## mlserve preview for 0123456789ab"
    rules = head["policy"]["rulesRun"]
    total_max = head["cost"]["monthlyMax"]
    assert lines[5] == (f"| dev | {head['summary']['total']} | 1 | 1 | 1 | ✅ {rules}/{rules} passed, 0 mandatory, 0 advisory | "
                        f"${head['cost']['monthlyMin']:,.2f} - ${total_max:,.2f} | +$100.00 |")
    assert "**Added (1)**\n\n- `aws:eks/nodeGroup:NodeGroup` **cluster-gpu**" in text
    assert "**Changed (1)**\n\n- `aws:ecr/repository:Repository` **registry-repository**: `imageTagMutability`" in text
    assert "**Removed (1)**\n\n- `aws:ecr/repository:Repository` **old-repository**" in text
    gpu_row = next(line for line in lines if line.startswith("| node pools: cluster-gpu"))
    assert gpu_row.endswith("| +$100.00 |")
    assert f"| **total** | **${head['cost']['monthlyMin']:,.2f}** | **${total_max:,.2f}** | **+$100.00** |" in text
    assert "Assumptions: 730 hours per month" in text and f"prices as of {head['cost']['pricesAsOf']}" in text


def test_violations_and_a_missing_base(tmp_path, head):
    bad = copy.deepcopy(head)
    bad["policy"].update(mandatory=1, passed=bad["policy"]["passed"] - 1, violations=[{
        "rule": "no-spot-gpu-pools", "level": "mandatory", "message": "GPU pool on spot capacity: set capacityType on-demand",
        "resourceType": "aws:eks/nodeGroup:NodeGroup", "resourceName": "cluster-gpu", "urn": "u"}])
    text = pr_comment.render({"prod": (None, bad)})
    assert "❌" in text and "<details open><summary><b>prod</b>" in text
    assert "_No base plan for this stack: every resource counts as added._" in text
    assert ("| mandatory | `no-spot-gpu-pools` | `aws:eks/nodeGroup:NodeGroup` cluster-gpu | "
            "GPU pool on spot capacity: set capacityType on-demand |") in text
    assert f"| prod | {bad['summary']['total']} | {len(bad['resources'])} | 0 | 0 |" in text and "| new |" in text


def test_a_missing_head_plan_fails_with_one_line(tmp_path, capsys):
    assert pr_comment.main(["--base", str(tmp_path), "--head", str(tmp_path), "--stacks", "dev", "--out", str(tmp_path / "c.md")]) == 2
    assert "run make preview STACK=dev first" in capsys.readouterr().err
