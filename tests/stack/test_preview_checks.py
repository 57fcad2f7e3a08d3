"""`make preview` with the policy pack and the cost estimate: the shipped stacks pass and end with the
summary and the estimate; the shipped bad example fails with exactly the rules it is meant to break."""

from __future__ import annotations

import json

import pytest

from mlserve.offline import plan as plan_cli
from policies import all_rules, prices
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
    assert printed[-4].startswith("  total (min / max)") and printed[-1].startswith("  sources: https://aws.amazon.com/")
    assert printed[-3].startswith("  assumptions (the stack's cost_assumptions output (mlserve:cost)): 730 hours per month")
    assert printed[-2].startswith("  not included: Container Insights with enhanced observability")
    written = json.loads(out.read_text())
    assert written["policy"]["mandatory"] == 0 and written["policy"]["config"] == f"policies/config/{stack}.json"
    assert written["cost"]["monthlyMax"] >= written["cost"]["monthlyMin"] > 0 and written["cost"]["unpriced"] == []
    assert written["cost"]["pricesAsOf"] == prices.PRICES_AS_OF and written["cost"]["complete"] is True


def test_a_real_region_outside_the_price_table_previews_with_an_advisory(tmp_path, capsys):
    """eu-west-1 is a region the settings accept and the table does not price: the preview passes, the
    advisory rule names what is unpriced, and the budget rule does not fail on it."""
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("us-west-2", "eu-west-1"))
    out = tmp_path / "plan.json"
    assert plan_cli.main(["--stack", "dev", "--stack-file", str(stack_file), "--json-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[advisory] cost-estimate-complete: 1 violation(s)\n    (stack): the cost estimate could not price region eu-west-1" in printed
    assert "  not priced: region eu-west-1 (the table prices ['us-east-1', 'us-west-2']" in printed
    written = json.loads(out.read_text())
    assert [(v["rule"], v["level"]) for v in written["policy"]["violations"]] == [("cost-estimate-complete", "advisory")]
    assert written["cost"]["complete"] is False and written["cost"]["region"] == "eu-west-1"


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
