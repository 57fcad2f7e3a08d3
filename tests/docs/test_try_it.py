"""README's "Try the server", as a newcomer does it: the server started as `make serve` starts it, then
every command of the block after `make serve` run as written (bash, curl, real HTTP on 127.0.0.1; only
the port differs, so parallel runs do not collide). Each must answer 2xx with the demo model's own
prediction for the row it sends, computed here from model.joblib; the row must be row 0 of the demo
model's sample.json.

Only what is stable is pinned: the label of the first row (a bare value in `predictions`, or a
`label` field there), the probabilities wherever they are given (in the row, or as an output
`probabilities` beside `predictions`), and V2's `label` output tensor."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest

from tests.serving_app.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ADDRESS = "127.0.0.1:8080"
PROBABILITY_TOLERANCE = 1e-5  # ONNX Runtime's float32 trees against scikit-learn's float64 averages


def try_it_block() -> str:
    """The first shell block after the one that runs `make serve`."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    serve = next(i for i, block in enumerate(blocks) if re.search(r"^make serve\b", block, flags=re.M))
    return blocks[serve + 1]


def statements(block: str) -> list[str]:
    """The block's shell statements: continuation lines joined, a quoted string kept across lines,
    comments and blank lines dropped."""
    result, pending = [], ""
    for line in block.splitlines():
        pending += line + "\n"
        if pending.endswith("\\\n"):
            continue
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the statement goes on
            continue
        if words:
            result.append(pending.strip())
        pending = ""
    assert not pending.strip(), f"unterminated statement: {pending!r}"
    return result


def serve_command(port: int) -> list[str]:
    """`make serve`'s recipe, with this interpreter, the port swapped."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^serve:.*\n\t(.+)$", makefile, flags=re.M)[1]
    assert "--port 8080" in recipe and "--host 127.0.0.1" in recipe, recipe
    recipe = recipe.replace("$(PY)", shlex.quote(sys.executable)).replace("$(DEMO_MODEL)", "build/demo-model")
    return shlex.split(recipe.replace("--port 8080", f"--port {port}"))


@pytest.fixture
def server(demo_model_in_repo, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(serve_command(port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 60  # a busy machine converts the forest to ONNX slowly
        while not _ready(port):
            if process.poll() is not None:
                raise AssertionError(f"make serve's command exited {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready in 60 s:\n{log.read_text()}")
            time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def model_answer(demo_model_in_repo):
    """The trained model's own answer for row 0 of the sample: (row, label, probabilities)."""
    row = json.loads((demo_model_in_repo / "sample.json").read_text())["rows"][0]
    model = joblib.load(demo_model_in_repo / "model.joblib")
    rows = np.asarray([row])
    return row, model.predict(rows)[0].item(), model.predict_proba(rows)[0].tolist()


def run(statement: str, assignments: list[str], port: int, curl_home: Path) -> tuple[int, str]:
    """One statement after the block's assignments, in bash; curl's config (not the command) adds the
    HTTP status as the last line of what it prints."""
    assert ADDRESS in statement, statement
    env = {**os.environ, "CURL_HOME": str(curl_home), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    script = "\n".join([*assignments, statement.replace(ADDRESS, f"127.0.0.1:{port}")])
    result = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{statement}\n{result.stderr}"
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def label_and_probabilities(prediction) -> tuple[object, list[float] | None]:
    if isinstance(prediction, dict):
        return prediction["label"], prediction.get("probabilities")
    return prediction, None


def check(label, probabilities, expected) -> None:
    _, expected_label, expected_probabilities = expected
    assert label == expected_label
    if probabilities is not None:
        assert np.allclose(probabilities, expected_probabilities, atol=PROBABILITY_TOLERANCE)


def requests_in_block() -> tuple[list[str], list[str]]:
    """(assignments, curl statements) of the block."""
    found = statements(try_it_block())
    assignments = [s for s in found if re.match(r"^[A-Z_]+=", s)]
    requests = [s for s in found if s not in assignments]
    assert requests and all(s.startswith("curl ") for s in requests), requests
    return assignments, requests


def route_of(statement: str) -> str:
    route = re.search(rf"{re.escape(ADDRESS)}(\S+)", statement)[1]
    return f"{route} {'csv' if 'Content-Type: text/csv' in statement else 'json'}"


def answer_problems(route: str, status: int, body: str, expected) -> list[str]:
    """What is wrong with one answer ([] when it is 2xx with the model's prediction)."""
    if not 200 <= status < 300:
        return [f"{route}: HTTP {status}: {body}"]
    try:
        if route.startswith("/invocations csv"):
            first, *rest = body.splitlines()[0].split(",")
            check(int(first), [float(value) for value in rest] or None, expected)
        elif route.startswith("/v2/"):
            outputs = {output["name"]: output for output in json.loads(body)["outputs"]}
            probabilities = outputs.get("probabilities")
            check(np.ravel(outputs["label"]["data"])[0].item(),
                  np.ravel(probabilities["data"]).tolist() if probabilities else None, expected)
        else:
            answer = json.loads(body)
            label, probabilities = label_and_probabilities(answer["predictions"][0])
            if probabilities is None and "probabilities" in answer:  # an output beside `predictions`
                probabilities = answer["probabilities"][0]
            check(label, probabilities, expected)
    except (AssertionError, KeyError, IndexError, ValueError) as error:
        return [f"{route}: {body!r} is not the model's answer {expected[1:]} ({error!r})"]
    return []


def test_the_block_sends_row_0_of_the_demo_sample(model_answer):
    assignments, _ = requests_in_block()
    shown = subprocess.run(["bash", "-c", "\n".join([*assignments, 'printf %s "$ROW"'])],
                           capture_output=True, text=True, check=True).stdout
    assert json.loads(shown) == model_answer[0]


def test_the_block_calls_the_four_ways_in():
    _, requests = requests_in_block()
    assert sorted(map(route_of, requests)) == [
        "/invocations csv", "/invocations json", "/predict json", "/v2/models/demo-rf/infer json"]


def test_every_request_answers_the_models_prediction(server, model_answer, tmp_path):
    """One test, so the server starts once however the suite is spread over workers."""
    assert shutil.which("curl"), "the README's requests need curl (sudo apt-get install -y curl)"
    (tmp_path / ".curlrc").write_text('write-out = "\\n%{http_code}"\n')
    assignments, requests = requests_in_block()
    problems = []
    for statement in requests:
        status, body = run(statement, assignments, server, tmp_path)
        problems += answer_problems(route_of(statement), status, body, model_answer)
    assert problems == []


def test_a_wrong_answer_is_reported(model_answer):
    row, label, probabilities = model_answer
    other = (label + 1) % len(probabilities)
    assert answer_problems("/predict json", 200, json.dumps({"predictions": [label]}), model_answer) == []
    assert answer_problems("/predict json", 200, json.dumps({"predictions": [{"label": label, "probabilities": probabilities}]}),
                           model_answer) == []
    assert answer_problems("/predict json", 200, json.dumps({"predictions": [other]}), model_answer)
    assert answer_problems("/invocations csv", 200, f"{other}\n", model_answer)
    assert answer_problems("/v2/models/demo-rf/infer json", 200,
                           json.dumps({"outputs": [{"name": "label", "data": [other]}]}), model_answer)
    assert answer_problems("/predict json", 200, json.dumps({"predictions": [{"label": label, "probabilities": [1.0] * 3}]}),
                           model_answer)
    assert answer_problems("/predict json", 200, json.dumps({"predictions": [label], "probabilities": [probabilities]}),
                           model_answer) == []
    assert answer_problems("/predict json", 200, json.dumps({"predictions": [label], "probabilities": [[1.0] * 3]}),
                           model_answer)
    assert answer_problems("/predict json", 400, '{"error": "bad"}', model_answer) == ['/predict json: HTTP 400: {"error": "bad"}']
