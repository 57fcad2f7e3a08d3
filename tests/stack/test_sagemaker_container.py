"""The SageMaker container environment the stack declares is what the server reads: the server
is started the way SageMaker starts the image (`serve`), with the environment taken from the
declared Model resource (not retyped), the model laid out as SageMaker unpacks it at
/opt/ml/model, and called on /ping and /invocations over real HTTP."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess

import botocore.session
import httpx

from serving_app.__main__ import parse_args, settings_for
from tests.stack.conftest import MANUAL_PROD
from tests.serving_app.conftest import demo_artifact, free_port, spawn  # noqa: F401 (fixtures)

MODEL = "aws:sagemaker/model:Model"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"


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
    # What InvokeEndpoint delivers is served, not answered 413 (a ModelError to the caller).
    body = botocore.session.get_session().get_service_model("sagemaker-runtime").operation_model(
        "InvokeEndpoint").input_shape.members["Body"]
    assert settings.max_body_bytes == body.metadata["max"] == 6_291_456
    assert settings.max_rows_per_request * 2 >= settings.max_body_bytes  # a one-feature CSV row is 2 bytes
    assert settings.max_queued_bytes >= 2 * settings.max_body_bytes  # one in the model, the next waiting
    # SageMaker tries no other instance on a 503: wait rather, while leaving the model its time
    # (request_timeout_s counts from arrival, waiting included, and stays below the 60 s).
    assert 1000 <= settings.max_queue_wait_ms < settings.request_timeout_s * 1000 / 2
    # ... and refuse only what is not expected to get room within that wait (the EKS target of
    # 10 ms would turn short bursts into ModelErrors).
    assert settings.queue_wait_target_ms == settings.max_queue_wait_ms


def test_data_capture_records_as_text_every_type_the_server_reads(built_plan):
    header = built_plan("prod").one(CONFIG).inputs["dataCaptureConfig"]["captureContentTypeHeader"]
    assert header == {"csvContentTypes": ["text/csv"],
                      "jsonContentTypes": ["application/json", "application/jsonlines"]}
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("CaptureContentTypeHeader")
    for key, types in (("CsvContentTypes", header["csvContentTypes"]),
                       ("JsonContentTypes", header["jsonContentTypes"])):
        member = shape.members[key].member.metadata
        assert all(re.fullmatch(member["pattern"], media_type) for media_type in types), types
        assert shape.members[key].metadata["min"] <= len(types) <= shape.members[key].metadata["max"]


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
    # Every type data capture records is one the server reads; a 1.5 MB CSV (413 before) is served.
    capture = built_plan("prod").one(CONFIG).inputs["dataCaptureConfig"]["captureContentTypeHeader"]
    bodies = {"text/csv": "\n".join(",".join(map(repr, row)) for row in rows),
              "application/json": json.dumps({"instances": rows}),
              "application/jsonlines": "\n".join(json.dumps(row) for row in rows)}
    for media_type in capture["csvContentTypes"] + capture["jsonContentTypes"]:
        answer = httpx.post(server.url + "/invocations", content=bodies[media_type],
                            headers={"content-type": media_type, "accept": media_type}, timeout=10)
        assert answer.status_code == 200 and answer.headers["content-type"] == media_type, answer.text
    large = "\n".join([bodies["text/csv"]] * (1_500_000 // len(bodies["text/csv"]) + 1))
    assert len(large) > 1_500_000
    answer = httpx.post(server.url + "/invocations", content=large, headers={"content-type": "text/csv"}, timeout=30)
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == large.count("\n") + 1
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
