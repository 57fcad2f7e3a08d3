"""The bootstrap program under the offline engine, with its shipped stack file and a repository."""

from __future__ import annotations

from typing import Callable

import pytest

from mlserve.offline import engine
from tests.conftest import ROOT

BOOTSTRAP = ROOT / "bootstrap"
REPOSITORY = "example-org/mlserve"


def shipped_config(**overrides: str) -> dict[str, str]:
    """Pulumi.shared.yaml's config, plus the repository `pulumi config set` would add."""
    config = engine.stack_config(BOOTSTRAP / "Pulumi.shared.yaml")
    config["mlserve-bootstrap:repository"] = REPOSITORY
    config.update(overrides)
    return config


@pytest.fixture
def run_bootstrap() -> Callable[..., engine.Plan]:
    def _run(config: dict[str, str] | None = None, plan: engine.Plan | None = None) -> engine.Plan:
        return engine.run_program(BOOTSTRAP / "__main__.py", stack="shared", config=config or shipped_config(),
                                  project="mlserve-bootstrap", plan=plan)

    return _run


@pytest.fixture(scope="module")
def shipped_plan() -> engine.Plan:
    return engine.run_program(BOOTSTRAP / "__main__.py", stack="shared", config=shipped_config(), project="mlserve-bootstrap")
