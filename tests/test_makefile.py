"""make sets up the repository's own .venv and node_modules, never the system: a missing system
tool stops make with the one command that installs it."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALLERS = re.compile(r"\b(apt-get|apt|yum|dnf|apk|brew)\s+(-\S+\s+)*(install|update|upgrade)\b")


def recipe_lines() -> list[str]:
    return [line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("\t")]


def test_no_recipe_installs_system_packages():
    runs = [line.strip() for line in recipe_lines() if INSTALLERS.search(line) and "echo" not in line]
    assert runs == []


def test_a_missing_system_tool_names_the_command_that_installs_it():
    for tool in ("npm", "wrk"):
        checks = [line for line in recipe_lines() if f"command -v {tool}" in line]
        assert checks and all("exit 1" in line and f"apt-get install -y" in line for line in checks), tool


def test_the_suite_runs_two_workers_per_core():
    out = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    workers = int(re.search(r"pytest -q -n (\d+)", out).group(1))
    cores = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    assert workers == 2 * cores


def make_commands(*args: str) -> list[str]:
    """The `python -m` commands `make -n` would run, written as a user types them (the target's own:
    -o keeps make from planning a .venv install or a demo-model build first)."""
    out = subprocess.run(["make", "-n", "-o", ".venv/.installed", "-o", "build/demo-model/metadata.json", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [re.sub(r"^-?\.venv/bin/python -m ", "python -m ", line.split(" > ")[0]) for line in out.splitlines()
            if re.match(r"^-?\.venv/bin/python -m (?!pip )", line)]


def test_the_make_targets_the_docs_offer_run_commands_that_parse():
    from tests.docs.test_commands import check

    [package] = make_commands("package", "MODEL=model.joblib", "NAME=fraud-model", "VERSION=3", "SAMPLE=rows.csv",
                              "ARGS=--drop-column label")
    assert package.endswith("--out build/fraud-model-3 --drop-column label")
    *previews, comment = make_commands("pr-comment", "BASE=base/build")
    assert previews == ["python -m mlserve.offline.plan --stack dev", "python -m mlserve.offline.plan --stack prod"]
    assert "--base base/build --head build" in comment and "--out build/pr-comment.md" in comment
    docs = make_commands("docs")[-2:]
    assert docs == ["python -m mlserve.stack.settings.reference --out docs/settings.md", "python -m mlserve.offline.samples"]
    for command in (package, *previews, comment, *docs):
        check(command)


def test_package_without_its_arguments_says_how_to_call_it():
    # -o: never (re)install .venv here; the argument check runs before it anyway.
    result = subprocess.run(["make", "-s", "-o", ".venv/.installed", "package", "NAME=fraud-model"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "usage: make package MODEL=model.joblib NAME=fraud-model VERSION=3 SAMPLE=rows.csv" in result.stderr


def test_help_lists_every_documented_target():
    makefile = (ROOT / "Makefile").read_text()
    documented = re.findall(r"^## .*\n(?:(?:## |[A-Z_]+ \?=).*\n)*([a-z-]+):", makefile, flags=re.M)
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = [line.split()[1] for line in out.splitlines()]
    assert listed == documented and {"docs", "package", "pr-comment", "serve", "preview", "test"} <= set(listed)
