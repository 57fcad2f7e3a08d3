"""The image, checked without a Docker engine: the Dockerfile's intent (parsed with
dockerfile-parse), the build context it gets, and its ENTRYPOINT run as the container
would run it (`IMAGE serve`, SageMaker's form)."""

from __future__ import annotations

import fnmatch
import json
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest
from dockerfile_parse import DockerfileParser

from serving_app.__main__ import parse_args, settings_for
from tests.serving_app.conftest import ROOT

CONTEXT = ROOT / "serving_app"
BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|yum|dnf|gcc|g\+\+|make|build-essential|pip|poetry|uv)\b")


@pytest.fixture(scope="module")
def stages() -> list[list[dict]]:
    """The Dockerfile's instructions, split per stage (comments dropped)."""
    parsed: list[list[dict]] = []
    for instruction in DockerfileParser(str(CONTEXT / "Dockerfile")).structure:
        if instruction["instruction"] == "FROM":
            parsed.append([])
        if parsed and instruction["instruction"] != "COMMENT":
            parsed[-1].append(instruction)
    return parsed


def _values(stage: list[dict], instruction: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == instruction]


def test_multi_stage_on_slim_python_311(stages):
    assert len(stages) >= 2
    arg = DockerfileParser(str(CONTEXT / "Dockerfile")).structure
    default_base = next(item["value"] for item in arg if item["instruction"] == "ARG"
                        and item["value"].startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11[.\d]*-slim(-\w+)?@sha256:[0-9a-f]{64}", default_base)
    for stage in stages:
        assert _values(stage, "FROM")[0].startswith("${PYTHON_IMAGE}")


def test_the_base_is_pinned_by_digest_with_its_tag_and_the_way_to_bump_it():
    """A tag moves under a rebuild; a digest names bytes. The tag stays readable beside the digest,
    and the Dockerfile says how to read the tag's current digest."""
    text = (CONTEXT / "Dockerfile").read_text()
    (pin,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    tag, _, digest = pin.partition("@")
    assert tag == "python:3.11-slim-bookworm" and re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert f"docker buildx imagetools inspect {tag}" in text
    assert not re.search(r"^FROM (?!\$\{PYTHON_IMAGE\})", text, re.M), "every stage starts from the pinned base"


def test_final_stage_runs_as_numeric_non_root_user(stages):
    users = _values(stages[-1], "USER")
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0


def test_final_stage_exposes_8080(stages):
    assert "8080" in " ".join(_values(stages[-1], "EXPOSE")).split()


def test_entrypoint_is_the_cli_and_accepts_serve(stages):
    entrypoint = json.loads(_values(stages[-1], "ENTRYPOINT")[-1])
    assert entrypoint == ["python", "-m", "serving_app"]
    assert not _values(stages[-1], "CMD"), "a CMD would be appended to `docker run IMAGE` as arguments"
    assert parse_args(["serve"]).command == "serve"
    assert parse_args([]).command is None


def test_runtime_stage_installs_and_compiles_nothing(stages):
    runtime = stages[-1]
    for command in _values(runtime, "RUN"):
        assert not BUILD_TOOLS.search(command), f"build tooling in the runtime stage: {command}"
    for copy in _values(runtime, "COPY") + _values(runtime, "ADD"):
        assert copy.startswith("--from="), f"runtime stage copies from the context: {copy}"


def test_requirements_are_pinned_and_installed_from_wheels(stages):
    lines = [line.split("#")[0].strip() for line in (CONTEXT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9_.\[\]-]+==[\w.]+", line) for line in requirements)
    install = " ".join(_values(stages[0], "RUN"))
    assert "-r /tmp/requirements.txt" in install and "--only-binary=:all:" in install


def _context_files() -> list[str]:
    patterns = [line.strip() for line in (CONTEXT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        for pattern in patterns:
            bare = pattern.removeprefix("**/")
            if fnmatch.fnmatch(path, pattern) or any(fnmatch.fnmatch(part, bare) for part in Path(path).parts):
                return True
        return False

    return sorted(str(p.relative_to(CONTEXT)) for p in CONTEXT.rglob("*") if p.is_file()
                  and not ignored(str(p.relative_to(CONTEXT))))


def test_build_context_holds_only_runtime_files():
    files = _context_files()
    assert "app.py" in files and "models/loader.py" in files and "requirements.txt" in files
    for path in files:
        assert path.endswith((".py", "requirements.txt")), f"non-runtime file in the image: {path}"
        assert "test" not in Path(path).name and "__pycache__" not in path
    assert "demo_model.py" not in files and "Dockerfile" not in files


def test_entrypoint_serve_runs_as_the_container_would(stages, spawn, demo_artifact):
    """`docker run IMAGE serve` with the model where SageMaker puts it: the ENTRYPOINT's
    command plus `serve`, the image's MLSERVE_* environment, workers from the CPU count."""
    entrypoint = json.loads(_values(stages[-1], "ENTRYPOINT")[-1])
    command = [sys.executable if part == "python" else part for part in entrypoint] + ["serve"]
    image_env = {}
    for value in _values(stages[-1], "ENV"):
        image_env.update(dict(re.findall(r"(MLSERVE_\w+)=(\S+)", value)))
    assert image_env == {"MLSERVE_HOST": "0.0.0.0", "MLSERVE_PORT": "8080"}
    assert settings_for(parse_args(["serve"]), {}).workers >= 1
    # Only the host and port differ from the image: a test binds 127.0.0.1 on a free port.
    server = spawn(*command[1:], env={"MLSERVE_MODEL_URI": str(demo_artifact), "MLSERVE_SHUTDOWN_GRACE_S": "5"})
    server.wait_ready(timeout_s=60)
    sample = json.loads((demo_artifact / "sample.json").read_text())["rows"]
    csv = "\n".join(",".join(str(v) for v in row) for row in sample)
    response = httpx.post(server.url + "/invocations", content=csv, headers={"content-type": "text/csv"}, timeout=10)
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == len(sample) and all(label in (0, 1, 2) for label in predictions)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_closure(requirements: list[str]) -> set[str]:
    """The requirements and everything they pull in (their non-extra Requires-Dist)."""
    from importlib import metadata

    seen: set[str] = set()
    todo = [_normalize(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]) for line in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" not in requirement:
                todo.append(_normalize(re.split(r"[=<>!~\[; (]", requirement, maxsplit=1)[0]))
    return seen


def test_image_requirements_cover_every_import_of_the_app():
    """What the image installs (serving_app/requirements.txt and its dependencies) must
    provide every third-party module the files in the image import."""
    import ast
    from importlib import metadata

    lines = [line.split("#")[0].strip() for line in (CONTEXT / "requirements.txt").read_text().splitlines()]
    installed = _installed_closure([line for line in lines if line])
    distributions = metadata.packages_distributions()
    missing = {}
    for path in _context_files():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse((CONTEXT / path).read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module.split(".")[0]]
            else:
                continue
            for module in modules:
                if module in sys.stdlib_module_names or module == "serving_app":
                    continue
                provided_by = {_normalize(d) for d in distributions.get(module, [module])}
                if not provided_by & installed:
                    missing.setdefault(module, []).append(path)
    assert not missing, f"imported in the image but not installed by requirements.txt: {missing}"
