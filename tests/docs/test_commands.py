"""Every `python -m ...` command in README.md and docs/*.md works as pasted: its module exists, its
subcommand and every `--flag` it uses are in the module's own `--help`, and a shell block that holds
one activates `.venv` first (or the file says to, earlier). The PR-comment command is cheap, so it
runs, as printed, on the plans of both stacks."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path

import pytest

from tests.docs.conftest import shared_plans

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", flags=re.M | re.S)
SHELL = ("sh", "bash", "console", "shell")
ACTIVATE = ".venv/bin/activate"


def commands_in(text: str) -> list[tuple[int, str, bool]]:
    """(offset, command, in a shell block) of every `python -m` command: in shell blocks (continuation
    lines joined, comments dropped) and in inline code."""
    found = []
    for block in FENCE.finditer(text):
        if block["lang"] not in SHELL:
            continue
        body = block["body"].replace("\\\n", " ")
        for line in body.splitlines():
            if (start := line.find("python -m ")) >= 0:
                found.append((block.start("body") + body.index(line), line[start:], True))
    prose = FENCE.sub(lambda block: " " * len(block[0]), text)
    for span in re.finditer(r"`(python -m [^`]+)`", prose):
        found.append((span.start(), span[1], False))
    return sorted(found)


def all_commands() -> list[tuple[str, str, bool]]:
    """(file, command, in a shell block) across the docs."""
    return [(path.relative_to(ROOT).as_posix(), command, shell)
            for path in DOCS for _, command, shell in commands_in(path.read_text())]


@cache
def help_text(module: str, *subcommand: str) -> str:
    """What `python -m module [subcommand] --help` prints: run in this process (its imports are
    loaded already), as `python -m` runs it."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [f"python -m {module}", *subcommand, "--help"]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: "found in sys.modules ... prior to execution"
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        assert exit.code in (0, None), f"python -m {module} {' '.join(subcommand)} --help: {err.getvalue()}"
        return out.getvalue()
    finally:
        sys.argv = argv
    raise AssertionError(f"python -m {module} {' '.join(subcommand)} --help ran without printing its help")


def subcommands(help: str) -> list[str]:
    """The choices of an argparse subcommand (`{package,publish,list,show}`) in a usage line."""
    usage = help.split("\n\n")[0]
    match = re.search(r"\{([a-z0-9_,-]+)\}", usage)
    return match[1].split(",") if match else []


def check(command: str) -> None:
    argv = shlex.split(command, comments=True)
    assert argv[:2] == ["python", "-m"] and len(argv) > 2, command
    module, args = argv[2], argv[3:]
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{command}: no module {module}"
    if spec.submodule_search_locations is not None:  # a package runs its __main__
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{command}: {module} has no __main__"
    help = help_text(module)
    choices = subcommands(help)
    if choices and args and not args[0].startswith("-"):
        assert args[0] in choices, f"{command}: {args[0]!r} is not one of {choices}"
        help = help_text(module, args[0])
    for flag in (arg.split("=")[0] for arg in args if arg.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help), f"{command}: {flag} is not an option of {module}"


def test_the_docs_have_python_m_commands_to_check():
    modules = {shlex.split(command, comments=True)[2] for _, command, _ in all_commands()}
    assert {"mlserve.models", "mlserve.checks", "mlserve.offline.pr_comment", "serving_app"} <= modules


def test_every_python_m_command_names_a_module_and_flags_it_has():
    commands = sorted({command for _, command, _ in all_commands()})
    problems = []
    for command in commands:
        try:
            check(command)
        except AssertionError as error:
            problems.append(str(error).splitlines()[0])
    assert problems == []


def test_a_shell_block_with_python_m_activates_the_venv_first():
    for path in DOCS:
        text = path.read_text()
        shell_commands = [offset for offset, _, shell in commands_in(text) if shell]
        if shell_commands:
            activation = text.find(ACTIVATE)
            assert 0 <= activation < shell_commands[0], (
                f"{path.relative_to(ROOT)}: say `. {ACTIVATE}` before the first python -m command")


def test_the_checker_refuses_what_would_not_run():
    with pytest.raises(AssertionError, match="no module"):
        check("python -m mlserve.no_such_tool --out x")
    with pytest.raises(AssertionError, match="'pack' is not one of"):
        check("python -m mlserve.models pack model.joblib")
    with pytest.raises(AssertionError, match="--output is not an option"):
        check("python -m mlserve.offline.pr_comment --base b --head h --output x")


def test_the_pr_comment_command_runs_as_printed(tmp_path, demo_model_in_repo):
    """As CI runs it: both stacks' plans under build/, the base's under base/build (here the same plans,
    so no changes)."""
    [command] = {c for _, c, _ in all_commands() if "mlserve.offline.pr_comment" in c and "--out" in c}
    argv = shlex.split(command)
    out = tmp_path / argv[argv.index("--out") + 1]
    plans = shared_plans()
    for directory in (argv[argv.index("--head") + 1], argv[argv.index("--base") + 1]):
        (tmp_path / directory).mkdir(parents=True, exist_ok=True)
        for stack in ("dev", "prod"):
            (tmp_path / directory / f"plan-{stack}.json").write_text(json.dumps(plans.plan_json(stack)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    comment = out.read_text()
    assert comment.startswith("<!-- mlserve-preview -->") and "No resource changes against the base branch." in comment
