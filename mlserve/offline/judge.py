"""The verdict on a plan made elsewhere: a pull request's plan JSON judged by THIS checkout's pack.

In CI this module runs from the base commit (pr-comment.yml checks the base out; the pull request's
code is never executed there): the head's `plan-<stack>.json` is read as data (`plan.from_json`),
and the pack of this checkout (`policies/`) with this checkout's `policies/config/<stack>.json`
judges it and prices it. Whatever policy result or cost the pull request's own run wrote into its
plan is ignored, so a pull request that disables a rule or raises a cost guard is still judged by
the rules and guards it would change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlserve.offline import plan as plan_json
from mlserve.offline import verdict
from mlserve.offline.pack import CONFIG_DIR, PolicyConfigError


@dataclass(frozen=True)
class Judged:
    """A head plan with this checkout's verdict in place of its own (or why it could not be judged)."""

    stack: str
    plan: dict[str, Any] | None
    """The head plan with "policy" and "cost" recomputed here; None when there was none to judge."""
    error: str | None = None
    """Why there is no verdict: no plan, a malformed plan, a plan the pack could not run on."""

    @property
    def failed(self) -> bool:
        return self.plan is None or self.plan["policy"]["mandatory"] > 0


def judge(stack: str, head: dict[str, Any] | None, config_dir: Path = CONFIG_DIR) -> Judged:
    """Judge one head plan (None: the pull request produced none) with this pack and config."""
    if head is None:
        return Judged(stack, None, f"no plan-{stack}.json from the pull request's run (`make preview STACK={stack}` failed or did not run)")
    try:
        plan = plan_json.from_json(head)
        checks = verdict.evaluate(plan, config_dir / f"{stack}.json")
    except (ValueError, PolicyConfigError) as error:  # a malformed plan, a region-less plan, a bad base config
        return Judged(stack, None, f"plan-{stack}.json could not be judged: {error}")
    except Exception as error:  # noqa: BLE001 - a rule that breaks on this plan: no verdict, said so (fails closed)
        return Judged(stack, None, f"the pack failed on plan-{stack}.json: {type(error).__name__}: {error}")
    return Judged(stack, {**head, **checks.to_json()})
