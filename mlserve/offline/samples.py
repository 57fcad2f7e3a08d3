"""The program output the docs show, regenerated: what the commands print today, never typed by hand.

    python -m mlserve.offline.samples                 (make docs: rewrites the samples in place)
    python -m mlserve.offline.samples --out DIR       (writes the regenerated files under DIR instead)

Each sample sits in a Markdown file between `<!-- sample:NAME -->` and `<!-- /sample:NAME -->`
and is made by running the real code:

- `try-it` (README.md): the requests a newcomer pastes while `make serve` runs, built from the demo
  model's own metadata and the first row of its `sample.json` (tests/docs/test_try_it.py runs them);
- `settings-error` (README.md): `make preview` on dev's stack file with two mistakes;
- `bad-example` (docs/policies-and-cost.md): the policy part of `make preview` on the shipped bad
  example with prod's policy config;
- `pr-comment` (docs/policies-and-cost.md): the pull-request comment for dev's plan against a base whose
  GPU pool stopped at one node (prod's section cut).

A change to a message, a rule, a price or the comment's shape reaches the docs by running the command
again; tests/docs/test_samples.py runs it into a temporary directory and fails while the committed docs
differ (commit ids aside).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlserve.offline import engine
from mlserve.offline import plan as plan_cli
from mlserve.offline import pr_comment
from mlserve.offline.judge import judge
from mlserve.offline import verdict

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = Path("build/demo-model")
BAD_EXAMPLE = ("make preview STACK=bad STACK_FILE=examples/bad-settings/Pulumi.bad.yaml "
               "POLICY_CONFIG=policies/config/prod.json")
SERVER = "127.0.0.1:8080"  # `make serve`'s address


class SampleError(RuntimeError):
    """A sample could not be made (a marker or an edited line is missing); the message says which."""


@dataclass
class Plans:
    """Offline plans by stack, built once per run; tests hand in the ones they have already built."""

    root: Path = ROOT
    built: dict[str, engine.Plan] = field(default_factory=dict)
    _json: dict[str, dict] = field(default_factory=dict)

    def plan(self, stack: str, config: dict[str, str] | None = None) -> engine.Plan:
        if config is not None:
            return engine.run_program(self.root / "__main__.py", stack=stack, config=config)
        if stack not in self.built:
            self.built[stack] = plan_cli.build(stack, program=self.root / "__main__.py")
        return self.built[stack]

    def plan_json(self, stack: str, config: dict[str, str] | None = None) -> dict:
        """What `make preview` writes to build/plan-<stack>.json (the PR comment's input), read back."""
        if config is None and stack in self._json:
            return self._json[stack]
        plan = self.plan(stack, config)
        checks = verdict.evaluate(plan, self.root / "policies" / "config" / f"{stack}.json")
        written = json.loads(json.dumps({**plan_cli.to_json(plan), **checks.to_json()}, sort_keys=True, default=str))
        if config is None:
            self._json[stack] = written
        return written


# -- the samples -----------------------------------------------------------------------------------


def try_it(plans: Plans) -> str:
    """Copy-paste requests for the four ways to call the server, on row 0 of the demo model's sample."""
    directory = plans.root / DEMO_MODEL
    if not (directory / "metadata.json").is_file():
        raise SampleError(f"no demo model in {DEMO_MODEL}: run make demo-model first")
    metadata = json.loads((directory / "metadata.json").read_text())
    row = json.loads((directory / "sample.json").read_text())["rows"][0]
    datatype = {"float32": "FP32", "float64": "FP64"}[metadata["input"]["dtype"]]
    values = [json.dumps(value) for value in row]
    wrapped = ",\n      ".join(", ".join(values[i:i + 5]) for i in range(0, len(values), 5))
    name, n = metadata["name"], len(row)
    return "\n".join([
        "```sh",
        f"# row 0 of {DEMO_MODEL}/sample.json: the demo model's {n} features",
        f"ROW='[{wrapped}]'",
        "",
        "# plain predict",
        f"curl -sS {SERVER}/predict -H 'Content-Type: application/json' -d \"{{\\\"instances\\\": [$ROW]}}\"",
        "# SageMaker's contract, JSON, then CSV in and out",
        f"curl -sS {SERVER}/invocations -H 'Content-Type: application/json' -d \"{{\\\"instances\\\": [$ROW]}}\"",
        f"curl -sS {SERVER}/invocations -H 'Content-Type: text/csv' -H 'Accept: text/csv' \\",
        "  --data-binary \"$(echo \"$ROW\" | tr -d ' \\n[]')\"",
        "# Open Inference Protocol V2",
        f"curl -sS {SERVER}/v2/models/{name}/infer -H 'Content-Type: application/json' \\",
        f"  -d \"{{\\\"inputs\\\": [{{\\\"name\\\": \\\"input\\\", \\\"shape\\\": [1, {n}], \\\"datatype\\\": \\\"{datatype}\\\", "
        "\\\"data\\\": [$ROW]}]}\"",
        "```",
    ])


def settings_error(plans: Plans) -> str:
    """`make preview` on dev's stack file with a GPU pool missing its taint and five zones."""
    text = (plans.root / "Pulumi.dev.yaml").read_text()
    text = _replace(text, r"\n +taints:\n +- \{key: nvidia\.com/gpu[^\n]*\}", "", "the GPU pool's taint")
    text = _replace(text, r"availabilityZones: \[[^\]\n]*\]",
                    "availabilityZones: [us-west-2a, us-west-2b, us-west-2c, us-west-2d, us-east-1a]",
                    "network.availabilityZones")
    with tempfile.TemporaryDirectory() as scratch:
        stack_file = Path(scratch) / "Pulumi.dev.yaml"
        stack_file.write_text(text)
        status, _, err = _run(plan_cli.main, ["--stack", "dev", "--stack-file", str(stack_file),
                                              "--json-out", str(Path(scratch) / "plan.json")])
        err = err.replace(scratch + "/", "")
    if status != 2:
        raise SampleError(f"make preview on the broken dev stack file exited {status}, not 2:\n{err}")
    return "```text\n$ make preview\n" + err.rstrip() + "\n```"


def bad_example(plans: Plans) -> str:
    """The policy verdict of `make preview` on the shipped bad example, with prod's policy config."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["--stack", "bad", "--stack-file", str(plans.root / "examples/bad-settings/Pulumi.bad.yaml"),
                "--policy-config", str(plans.root / "policies/config/prod.json"),
                "--json-out", str(Path(scratch) / "plan-bad.json")]
        status, out, err = _run(plan_cli.main, args)
    if status != 1:
        raise SampleError(f"the bad example should fail its policies (exit 1), exited {status}:\n{err}")
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Policy pack ("))
    end = next(i for i, line in enumerate(lines) if line.startswith("Policies: "))
    return "\n".join(["```text", f"$ {BAD_EXAMPLE}", *lines[start:end + 1], "```"])


def pr_comment_sample(plans: Plans) -> str:
    """The comment for dev's plan against a base whose GPU pool stopped at one node, and prod unchanged."""
    base_config = engine.stack_config(plans.root / "Pulumi.dev.yaml")
    pools = json.loads(base_config["mlserve:nodePools"])
    gpu = next(pool for pool in pools if pool.get("gpu"))
    gpu.update(maxSize=1, desiredSize=min(gpu["desiredSize"], 1))
    base_config["mlserve:nodePools"] = json.dumps(pools)
    prod = plans.plan_json("prod")
    comment = pr_comment.render({"dev": (plans.plan_json("dev", base_config), judge("dev", plans.plan_json("dev"))),
                                 "prod": (prod, judge("prod", prod))}, commit=_commit(plans.root))
    prod_section = comment.index("<details><summary><b>prod</b>")
    return comment[:prod_section].rstrip() + "\n\n(prod's section follows in the same shape.)"


SAMPLES: dict[str, tuple[str, Callable[[Plans], str]]] = {
    "try-it": ("README.md", try_it),
    "settings-error": ("README.md", settings_error),
    "bad-example": ("docs/policies-and-cost.md", bad_example),
    "pr-comment": ("docs/policies-and-cost.md", pr_comment_sample),
}


# -- regions ---------------------------------------------------------------------------------------


def fill(text: str, name: str, content: str) -> str:
    """`text` with the region of sample `name` holding `content`."""
    start, end = f"<!-- sample:{name} -->", f"<!-- /sample:{name} -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SampleError(f"sample {name!r}: expected one {start} ... {end} region")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{content}\n{end}{tail}"


def regenerate(plans: Plans, names: list[str] | None = None) -> dict[str, str]:
    """The new text of every file that holds a sample, by path relative to the repository."""
    files: dict[str, str] = {}
    with _clean_image_commit():
        for name, (path, make) in SAMPLES.items():
            if names and name not in names:
                continue
            text = files.get(path) or (plans.root / path).read_text()
            files[path] = fill(text, name, make(plans))
    return files


@contextlib.contextmanager
def _clean_image_commit():
    """Plan as if serving_app/ were committed: prod refuses an image no commit can rebuild, and no
    sample shows the image tag, so the docs can be regenerated from a tree with uncommitted work
    (the tests plan the same way, tests/conftest.py)."""
    import components.image

    original = components.image.read_git_state
    components.image.read_git_state = lambda context: components.image.GitState(commit="0" * 40)
    try:
        yield
    finally:
        components.image.read_git_state = original


def _replace(text: str, pattern: str, new: str, what: str) -> str:
    changed, count = re.subn(pattern, new, text, count=1)
    if count != 1:
        raise SampleError(f"Pulumi.dev.yaml no longer has {what} where the settings-error sample edits it")
    return changed


def _run(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _commit(root: Path) -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "0" * 40


def main(argv: list[str] | None = None, *, plans: Plans | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the regenerated files under this directory (default: in place)")
    parser.add_argument("--only", nargs="+", choices=sorted(SAMPLES), help="regenerate these samples only")
    args = parser.parse_args(argv)
    plans = plans or Plans()
    try:
        files = regenerate(plans, args.only)
    except SampleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path, text in files.items():
        target = (args.out or plans.root) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    print("samples written: " + ", ".join(f"{name} ({path})" for name, (path, _) in SAMPLES.items()
                                          if not args.only or name in args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
