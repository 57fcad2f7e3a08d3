"""One offline plan per stack, shared by every test that only reads it (a build is ~1 s)."""

from __future__ import annotations

import pytest

from mlserve import engine
from mlserve import plan as plan_cli

_PLANS: dict[str, engine.Plan] = {}


@pytest.fixture
def built_plan():
    """`built_plan("prod")`: the plan of the real __main__.py for a stack, built once per worker.
    Tests must not modify it; tests about building itself call `plan_cli.build` directly."""

    def _get(stack: str) -> engine.Plan:
        if stack not in _PLANS:
            _PLANS[stack] = plan_cli.build(stack)
        return _PLANS[stack]

    return _get
