"""The offline toolchain: the mock engine that runs the real `__main__.py` (`engine.py`), the plan
printer behind `make preview` (`plan.py`, `routes.py`), the policy pack and cost run over that plan
(`pack.py`, `verdict.py`), the verdict of this checkout's pack on a plan made elsewhere (`judge.py`)
and the pull-request comment (`pr_comment.py`, `plan_diff.py`). It may import the policy pack
(`policies/`); the pack never imports it."""
