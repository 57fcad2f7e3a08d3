"""`status` and `gate` on the EKS side: Flagger's Canary read through a real HTTP Kubernetes API on
127.0.0.1 (a fake API server answering as the real one does for these three objects), with a
kubeconfig whose exec plugin hands out the token, as `aws eks get-token` does for the stack's."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlserve.checks import CheckError, ExitCode
from mlserve.checks.__main__ import main
from mlserve.checks.canary import KubernetesReader, canary_state, wait_for_canary

TOKEN = "k8s-aws-v1.offline-token"
NS, NAME = "mlserve-serving", "model-server"


def _deployment(name: str, version: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": name}}, "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {"containers": [{"name": "model-server", "image": "repo@sha256:" + "a" * 64,
                                         "env": [{"name": "MLSERVE_MODEL_URI", "value": f"s3://b/models/m/{version}/"}]}]}}}}


class FakeApi:
    """The objects the fake API server holds, changed by the tests between reads."""

    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []

    def set(self, *, phase: str | None, weight: int = 0, failed: int = 0, target: str = "5", primary: str = "4") -> None:
        status = {} if phase is None else {"phase": phase, "canaryWeight": weight, "failedChecks": failed,
                                           "conditions": [{"type": "Promoted", "status": "Unknown",
                                                           "message": f"phase {phase}"}]}
        self.objects = {
            f"/apis/flagger.app/v1beta1/namespaces/{NS}/canaries/{NAME}": {
                "apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": NAME, "namespace": NS},
                "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME}}, "status": status},
            f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}": _deployment(NAME, target),
            f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}-primary": _deployment(f"{NAME}-primary", primary),
        }


@pytest.fixture
def api():
    state = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            state.requests.append((self.path, self.headers.get("Authorization", "")))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
            body = state.objects.get(self.path.split("?")[0])
            if body is None:
                return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                        "message": f"{self.path} not found", "code": 404})
            return self._send(200, body)

        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def kubeconfig(url: str, token: str = TOKEN) -> dict:
    """The stack's kubeconfig shape (components/kubeconfig.py), its exec plugin printing an ExecCredential."""
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": token}}
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": url}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "aws"}}],
            "users": [{"name": "aws", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
                "args": ["-c", f"print({json.dumps(json.dumps(credential))})"], "interactiveMode": "Never"}}}]}


class Clock:
    def __init__(self, on_sleep=None):
        self.now, self.on_sleep, self.sleeps = 0.0, on_sleep, 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.sleeps)


def test_status_reads_phase_weight_and_failed_checks_with_the_exec_token(api):
    api.set(phase="Progressing", weight=20, failed=1)
    state = canary_state(KubernetesReader(kubeconfig(api.url)), f"{NS}/{NAME}")
    assert (state.phase, state.weight, state.failed_checks, state.promoted) == ("Progressing", 20, 1, False)
    assert state.line() == (f"canary {NS}/{NAME}: Progressing, canary weight 20%, failed checks 1, declared version "
                            "not live yet (phase Progressing)")
    assert {auth for _, auth in api.requests} == {f"Bearer {TOKEN}"}


def test_gate_waits_until_flagger_promoted_the_declared_version(api):
    # Right after `pulumi up`: Succeeded from the last rollout, the primary still on version 4.
    api.set(phase="Succeeded", target="5", primary="4")

    def flagger_moves(sleeps: int) -> None:
        if sleeps == 1:
            api.set(phase="Progressing", weight=10, target="5", primary="4")
        elif sleeps == 3:
            api.set(phase="Succeeded", target="5", primary="5")

    clock = Clock(flagger_moves)
    line = wait_for_canary(KubernetesReader(kubeconfig(api.url)), f"{NS}/{NAME}", timeout_s=600, poll_s=30,
                           sleep=clock.sleep, clock=clock)
    assert clock.sleeps == 3 and "Succeeded" in line and "declared version live" in line


def test_gate_fails_on_a_rollback_and_on_a_timeout(api):
    reader = KubernetesReader(kubeconfig(api.url))
    api.set(phase="Failed", failed=5)
    with pytest.raises(CheckError) as rolled_back:
        wait_for_canary(reader, f"{NS}/{NAME}", timeout_s=600, poll_s=30, sleep=Clock().sleep, clock=Clock())
    assert rolled_back.value.code == ExitCode.ROLLED_BACK and "rolled the new version back" in str(rolled_back.value)
    api.set(phase="Progressing", weight=30)
    clock = Clock()
    with pytest.raises(CheckError) as late:
        wait_for_canary(reader, f"{NS}/{NAME}", timeout_s=90, poll_s=30, sleep=clock.sleep, clock=clock)
    assert late.value.code == ExitCode.TIMEOUT and clock.now == 90


def test_refused_credentials_a_missing_canary_and_no_server_each_say_so(api):
    api.set(phase="Succeeded", target="4", primary="4")
    with pytest.raises(CheckError) as refused:
        canary_state(KubernetesReader(kubeconfig(api.url, token="wrong")), f"{NS}/{NAME}")
    assert refused.value.code == ExitCode.NO_CREDENTIALS
    with pytest.raises(CheckError) as missing:
        canary_state(KubernetesReader(kubeconfig(api.url)), f"{NS}/other")
    assert missing.value.code == ExitCode.NOT_FOUND and f"{NS}/other" in str(missing.value)
    with pytest.raises(CheckError) as down:
        canary_state(KubernetesReader(kubeconfig("http://127.0.0.1:9")), f"{NS}/{NAME}")
    assert down.value.code == ExitCode.UNREACHABLE
    with pytest.raises(CheckError) as bad:
        canary_state(KubernetesReader(kubeconfig(api.url)), "no-namespace")
    assert bad.value.code == ExitCode.USAGE


def test_the_cli_gate_reads_canary_and_kubeconfig_from_the_stack_outputs(api, tmp_path, capsys):
    api.set(phase="Failed", failed=5)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"canary": f"{NS}/{NAME}", "kubeconfig": json.dumps(kubeconfig(api.url)),
                                   "alarm_names": ["a"]}))
    assert main(["gate", "--stack-outputs", str(outputs), "--region", "us-west-2", "--timeout", "5"]) == ExitCode.ROLLED_BACK
    assert "Flagger rolled the new version back" in capsys.readouterr().err
