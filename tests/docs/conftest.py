"""The docs' tests read the demo model `make serve` serves (`./build/demo-model`) and reuse the
whole-program plans the stack tests build (one per stack and worker)."""

from tests.stack.conftest import built_plan, demo_model_in_repo, plan_of  # noqa: F401  (fixtures, shared)
