"""One offline plan per stack, shared by every test that only reads it (a build is ~1 s)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mlserve.offline import engine
from mlserve.offline import plan as plan_cli

_PLANS: dict[str, engine.Plan] = {}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def demo_model_in_repo() -> Path:
    """`./build/demo-model`, which dev's stack file serves, as `make preview` builds it. Built
    in a scratch directory and renamed into place, so two xdist workers never write one directory."""
    from serving_app.demo_model import build_demo_artifact

    target = ROOT / "build" / "demo-model"
    if not (target / "metadata.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".demo-model-", dir=target.parent))
        build_demo_artifact(scratch)
        try:
            os.rename(scratch, target)
        except OSError:  # the other worker was first
            shutil.rmtree(scratch, ignore_errors=True)
    return target


MANUAL_PROD = "prod-manual"
"""prod's stack file in `rollout.mode: manual` with a canary beside the stable version (fraud-model/3 and
/4 at 10%, the QA header route): what prod ran before it moved to automatic rollouts, and what the
tests of the weighted canary on both targets read. Derived from Pulumi.prod.yaml, so it never drifts."""


def to_manual(config: dict) -> dict:
    """Turn prod's `mlserve:` values (plain, not JSON strings) into MANUAL_PROD's, in place."""
    config["mlserve:models"] = {"stable": "fraud-model/3", "canary": "fraud-model/4"}
    config["mlserve:rollout"] = {"mode": "manual", "canaryWeight": 10, "canaryHeaderRoute": True}
    return config


def manual_prod_stack_file() -> Path:
    import yaml

    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    to_manual(document["config"])
    directory = Path(tempfile.mkdtemp(prefix="mlserve-prod-manual-"))
    path = directory / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def plan_of(stack: str) -> engine.Plan:
    """The plan of the real __main__.py for a stack (or MANUAL_PROD), built once per worker (for
    module-scoped fixtures)."""
    if stack not in _PLANS:
        _PLANS[stack] = (plan_cli.build("prod", stack_file=manual_prod_stack_file()) if stack == MANUAL_PROD
                         else plan_cli.build(stack))
    return _PLANS[stack]


@pytest.fixture
def built_plan():
    """`built_plan("prod")`: the plan of the real __main__.py for a stack, built once per worker.
    `built_plan("prod-manual")`: prod with a weighted canary (MANUAL_PROD). Tests must not modify it;
    tests about building itself call `plan_cli.build` directly."""
    return plan_of
