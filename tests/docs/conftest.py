"""The docs' tests read the demo model `make serve` serves (`./build/demo-model`) and reuse the
whole-program plans the stack tests build (one per stack and worker)."""

from __future__ import annotations

from functools import cache

from mlserve.offline import samples
from tests.stack.conftest import built_plan, demo_model_in_repo, plan_of  # noqa: F401  (fixtures, shared)


@cache
def shared_plans() -> samples.Plans:
    """dev's and prod's plans, and their plan JSON with verdict and cost, computed once per worker."""
    return samples.Plans(built={"dev": plan_of("dev"), "prod": plan_of("prod")})
