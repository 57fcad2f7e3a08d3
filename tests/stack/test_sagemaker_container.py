"""The SageMaker container environment the stack declares is what the server reads: the server
is started the way SageMaker starts the image (`serve`), with the environment taken from the
declared Model resource (not retyped), the model laid out as SageMaker unpacks it at
/opt/ml/model, and called on /ping and /invocations over real HTTP."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess

import httpx

from serving_app.__main__ import parse_args, settings_for
from tests.stack.conftest import MANUAL_PROD
from tests.serving_app.conftest import demo_artifact, free_port, spawn  # noqa: F401 (fixtures)

MODEL = "aws:sagemaker/model:Model"


def _environment(plan, track: str) -> dict[str, str]:
    return plan.one(MODEL, f"sagemaker-model-{track}").inputs["primaryContainer"]["environment"]


def test_the_declared_environment_parses_to_the_sagemaker_contract(built_plan):
    env = _environment(built_plan(MANUAL_PROD), "stable")
    settings = settings_for(parse_args(["serve"]), env)
    assert settings.model_uri == "/opt/ml/model"  # where SageMaker unpacks ModelDataUrl
    assert settings.port == 8080  # the contract's port
    assert settings.workers == 4  # one per vCPU of ml.m7i.xlarge (sagemaker.stable.instanceType)
    assert (settings.max_batch_size, settings.max_batch_wait_ms) == (64, 2.0)
    assert settings.request_timeout_s < 60  # below InvokeEndpoint's 60 s


def test_serve_with_the_declared_environment_answers_ping_and_invocations(built_plan, spawn, demo_artifact, tmp_path):  # noqa: F811
    env = _environment(built_plan(MANUAL_PROD), "canary")
    model_dir = tmp_path / "opt" / "ml" / "model"  # model.tar.gz unpacked: the artifact's files at the root
    shutil.copytree(demo_artifact, model_dir)
    port = free_port()
    # Only what a test cannot have differs: the model directory (no /opt/ml here) and the port,
    # set the way SageMaker itself moves it (SAGEMAKER_BIND_TO_PORT, read by `serve`).
    server = spawn("-m", "serving_app", "serve", port=port,
                   env={**env, "MLSERVE_MODEL_URI": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
                        "MLSERVE_SHUTDOWN_GRACE_S": "5"})
    server.wait_ready(timeout_s=120)
    assert httpx.get(server.url + "/ping", timeout=5).status_code == 200
    rows = json.loads((model_dir / "sample.json").read_text())["rows"]
    response = httpx.post(server.url + "/invocations", json={"instances": rows}, timeout=10)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == len(rows)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == (
        f"model_name={metadata['name']},model_version={metadata['version']}")
    children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
    commands = [open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode() for pid in children]
    # multiprocessing's spawn start method adds its resource tracker beside the workers.
    workers = [c for c in commands if "resource_tracker" not in c]
    assert len(workers) == int(env["MLSERVE_WORKERS"]), commands
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
