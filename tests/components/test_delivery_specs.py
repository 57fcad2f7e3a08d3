"""The delivery bodies on their own: the dashboard shipped as code, the Canary's acceptance check run
for real (bash, curl and jq, as the load tester runs it) against the real server on 127.0.0.1, and
the pinned CRD schemas catching a misspelled field."""

from __future__ import annotations

import json
import subprocess

import pytest

from components import delivery_specs as specs
from components.metrics_stack import DASHBOARDS, dashboard_files
from components.prometheus_values import DATASOURCE_UID
from tests.crd_schema import CRD_FILES, schemas, validate_custom
from tests.stack.test_progressive_delivery import ISTIO_METRICS, KUBE_STATE_METRICS, metric_names, server_metric_names

PANELS = {"Requests per second, by version", "5xx share, by version", "Latency p50 / p99, by version",
          "Server 503s (queue full), by version", "Batch size (rows per model call), by version",
          "Queued requests, by pod", "Replicas, by Deployment", "GPUs held by serving pods"}


def test_the_dashboard_loads_and_every_panel_reads_a_metric_that_exists():
    files = dashboard_files()
    assert set(files) == {p.name for p in DASHBOARDS.glob("*.json")} == {"model-serving.json"}
    dashboard = json.loads(files["model-serving.json"])
    assert {p["title"] for p in dashboard["panels"]} == PANELS
    known = server_metric_names() | ISTIO_METRICS | KUBE_STATE_METRICS
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names and names <= known, f"{panel['title']}: {names - known} exported by nothing"
    # Per version: the PodMonitor's relabelling gives the server's series a `version` label.
    assert all("version" in t["expr"] for p in dashboard["panels"] if "by version" in p["title"] for t in p["targets"]
               if "mlserve_" in t["expr"])


def test_every_vendored_crd_file_holds_the_kinds_the_stack_declares():
    for operator, files in CRD_FILES.items():
        assert files and all(path.is_file() and (path.parent / "LICENSE").is_file() for path in files), operator
    kinds = {kind for (_, kind) in schemas()}
    assert {"Canary", "MetricTemplate", "AlertProvider", "ScaledObject", "PodMonitor"} <= kinds


def _canary(**overrides):
    spec = specs.canary_spec(
        namespace="mlserve-serving", gateway="istio-ingress/mlserve-gateway", hosts=["*"], autoscaler="model-server",
        interval_s=60, step_weight=10, max_weight=50, threshold=5, min_success_percent=98, max_latency_ms=250,
        max_503_percent=1, templates_namespace="mlserve-serving", loadtester_url="http://t/", acceptance_cmd="true",
        load_test_cmd=None, alert_provider="mlserve-rollout", timeout_s=12, max_pending_requests=1024,
        progress_deadline_s=660)
    spec.update(overrides)
    return {"apiVersion": specs.FLAGGER_API, "kind": "Canary", "metadata": {"name": "model-server"}, "spec": spec}


def test_the_pinned_crds_refuse_a_misspelled_field():
    validate_custom(_canary())
    with pytest.raises(AssertionError, match="Flagger 1.44.0.*analyis|analyis"):
        validate_custom(_canary(analyis={}))
    bad = _canary()
    bad["spec"]["autoscalerRef"]["kind"] = "HorizontalPodAutoscalr"
    with pytest.raises(AssertionError, match="autoscalerRef.kind"):
        validate_custom(bad)
    scaled = {"apiVersion": specs.KEDA_API, "kind": "ScaledObject", "metadata": {"name": "m"},
              "spec": specs.scaled_object_spec(deployment="m", namespace="n", pods={"track": "stable"}, container="c",
                                               prometheus_url="http://p:9090", min_replicas=1, max_replicas=2,
                                               queued_requests_target=4, cpu_target_percent=70, behavior={})}
    validate_custom(scaled)
    scaled["spec"]["minReplicas"] = 1
    with pytest.raises(AssertionError, match="KEDA"):
        validate_custom(scaled)


# --- The acceptance check, run as the load tester runs it ------------------------------------------


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    from serving_app.demo_model import build_demo_artifact
    from serving_app.models.loader import load_model
    from tests.serving_app.conftest import serve

    directory = build_demo_artifact(tmp_path_factory.mktemp("demo"))
    rows = json.loads((directory / "sample.json").read_text())["rows"]
    version = json.loads((directory / "metadata.json").read_text())["version"]
    with serve(load_model(str(directory))) as running:
        yield running, rows, version


def _run(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)


def test_the_acceptance_check_passes_the_right_version_and_fails_a_wrong_answer(demo_server):
    running, rows, version = demo_server
    assert _run(specs.acceptance_command(url=running.url, rows=rows, expected_version=version)).returncode == 0
    # Another version answering, or a body that is not the model's input (the server answers 4xx): both fail.
    assert _run(specs.acceptance_command(url=running.url, rows=rows, expected_version=version + "-other")).returncode != 0
    assert _run(specs.acceptance_command(url=running.url, rows=[row[:-1] for row in rows],
                                         expected_version=version)).returncode != 0
    # Nobody listening (the canary's pods not up): fails too.
    assert _run(specs.acceptance_command(url="http://127.0.0.1:9", rows=rows, expected_version=version)).returncode != 0


def test_the_load_test_command_posts_the_sample_rows_at_the_rate_asked():
    command = specs.load_test_command(url="http://model-server-canary.ns:8080", rows=[[1.0, 2.0]], rps=20, seconds=60)
    assert command == ("hey -z 60s -q 2 -c 10 -m POST -T application/json -d '{\"instances\":[[1.0,2.0]]}' "
                       "http://model-server-canary.ns:8080/predict")
