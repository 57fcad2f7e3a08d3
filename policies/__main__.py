"""The policy pack's entry point: `pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json`.

Only assembles the pack. Rules live in the domain modules beside this file. Every rule is
mandatory unless it says otherwise; policies/config/<env>.json sets levels and parameters per
environment (the `--policy-pack-config` format: {"<rule>": {"enforcementLevel": ..., "<param>": ...}}).
"""

import sys
from pathlib import Path

# The CLI runs this file with the pack directory as the working directory; the rules import the
# project's own modules (components.serving_contract), so the repository root goes first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies import all_rules  # noqa: E402

PolicyPack(name="mlserve", policies=all_rules(), enforcement_level=EnforcementLevel.MANDATORY)
