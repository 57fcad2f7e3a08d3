"""Shared fixtures. Pulumi programs run through `mlserve.offline.engine`, the same offline engine
`make preview` uses, so the tests and the printed plan cannot drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from mlserve.offline import engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_pulumi() -> Callable[..., engine.Plan]:
    """Run a callable that declares resources (e.g. builds one component) under the mock
    engine and return the recorded `Plan`. Keyword `stack` (default "dev") and `config`
    (a dict of "ns:key" -> string) are passed through."""

    def _run(program: Callable[[], None], *, stack: str = "dev", config: dict[str, str] | None = None,
             preview: bool = False) -> engine.Plan:
        return engine.run(program, stack=stack, config=dict(config or {"mlserve:region": "us-west-2"}), preview=preview)

    return _run


@pytest.fixture(scope="session", autouse=True)
def clean_image_context():
    """The whole program reads the git state of `serving_app/` (prod refuses an image no commit
    can rebuild). Tests plan against one fixed, clean commit instead, so the suite's verdict never
    depends on the checkout's uncommitted work; the refusal itself is tested by patching this back
    to a dirty state (tests/stack/test_stack_args_serving.py), and `read_git_state` on real
    repositories in tests/components/test_image.py."""
    import components.image

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(components.image, "read_git_state", lambda context: components.image.GitState(commit="0" * 40))
        yield
