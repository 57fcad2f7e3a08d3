"""The whole pack against the shipped stacks: no mandatory violation, with each stack's own policy config."""

from __future__ import annotations

import pytest

from mlserve.offline import pack as policy_check
from policies import all_rules


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shipped_stacks_pass_every_mandatory_rule(built_plan, stack):
    config = policy_check.load_config(policy_check.CONFIG_DIR / f"{stack}.json", all_rules())
    report = policy_check.check(built_plan(stack), config)
    assert [v for v in report.violations if v.level == "mandatory"] == []
    assert len(report.run) == len(all_rules())
