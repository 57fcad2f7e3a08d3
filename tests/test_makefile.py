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
