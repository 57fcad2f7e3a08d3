"""`make preview` with the policy pack and the cost estimate: the shipped stacks pass and end with the
summary and the estimate; the shipped bad example fails with exactly the rules it is meant to break."""

from __future__ import annotations

import json

import pytest

from mlserve.offline import plan as plan_cli
from policies import all_rules
from tests.conftest import ROOT

BAD = ["--stack", "bad", "--stack-file", str(ROOT / "examples/bad-settings/Pulumi.bad.yaml"),
       "--policy-config", str(ROOT / "policies/config/prod.json")]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_preview_ends_with_the_policy_summary_and_the_cost(tmp_path, capsys, stack):
    out = tmp_path / "plan.json"
    assert plan_cli.main(["--stack", stack, "--json-out", str(out)]) == 0
    printed = capsys.readouterr().out.rstrip().splitlines()
    summary = next(i for i, line in enumerate(printed) if line.startswith("Policies: "))
    rules = len(all_rules())
    assert printed[summary] == f"Policies: {rules} rules run, {rules} passed, 0 advisory and 0 mandatory violations"
    assert printed[summary + 2].startswith(f"Estimated monthly cost, stack '{stack}' (us-west-2; on-demand list prices as of ")
    assert printed[-3].startswith("  total (min / max)") and printed[-1].startswith("  sources: https://aws.amazon.com/")
    written = json.loads(out.read_text())
    assert written["policy"]["mandatory"] == 0 and written["policy"]["config"] == f"policies/config/{stack}.json"
    assert written["cost"]["monthlyMax"] >= written["cost"]["monthlyMin"] > 0 and written["cost"]["unpriced"] == []


def test_the_bad_example_fails_with_exactly_its_rules(tmp_path, capsys):
    out = tmp_path / "plan-bad.json"
    assert plan_cli.main([*BAD, "--json-out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "error: 4 mandatory policy violation(s)" in captured.err
    violations = json.loads(out.read_text())["policy"]["violations"]
    assert sorted((v["rule"], v["resourceName"]) for v in violations) == [
        ("cost-guard-gpu-nodes", None), ("cost-guard-monthly-budget", None),
        ("log-group-retention", "network-flow-logs"), ("no-spot-gpu-pools", "cluster-gpu")]
    assert "[mandatory] no-spot-gpu-pools: 1 violation(s)\n    aws:eks/nodeGroup:NodeGroup  cluster-gpu: GPU pool on spot" in captured.out


def test_a_bad_policy_config_stops_the_preview_naming_it(tmp_path, capsys):
    config = tmp_path / "typo.json"
    config.write_text(json.dumps({"cost-guard-gpu-nodes": {"maxGpu": 1}}))
    assert plan_cli.main(["--stack", "dev", "--policy-config", str(config), "--json-out", str(tmp_path / "p.json")]) == 2
    assert "typo.json: cost-guard-gpu-nodes has no parameter ['maxGpu']" in capsys.readouterr().err
