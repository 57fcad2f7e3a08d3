"""Progressive delivery on EKS, read from the whole program's plans: prod (`rollout.mode: automatic`)
declares Flagger's Canary over the Deployment and ScaledObject that really exist, on the mesh's
Gateway, with the alarms' thresholds, and no routes of its own; dev (`manual`) the weighted routes and
no Canary. Metric names are checked against what the real server exports (serving_app/metrics.py,
rendered), not against a copy."""

from __future__ import annotations

import copy
import re

import pytest

from components import delivery_specs, flagger, keda, prometheus_values
from mlserve.offline import engine
from mlserve.stack.settings import parse
from tests.stack.test_settings import ROOT, as_config, stack_values

CANARY = "kubernetes:flagger.app/v1beta1:Canary"
TEMPLATE = "kubernetes:flagger.app/v1beta1:MetricTemplate"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
GATEWAY = "kubernetes:networking.istio.io/v1:Gateway"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROUTES = ("kubernetes:networking.istio.io/v1:VirtualService", "kubernetes:networking.istio.io/v1:DestinationRule")

ISTIO_METRICS = {"istio_requests_total", "istio_request_duration_milliseconds_bucket", "istio_request_bytes_bucket",
                 "istio_response_bytes_bucket"}
"""Istio's standard metrics, as each sidecar exposes them. https://istio.io/v1.30/docs/reference/config/metrics/"""
KUBE_STATE_METRICS = {"kube_deployment_status_replicas_available", "kube_deployment_spec_replicas",
                      "kube_pod_container_resource_requests"}
"""kube-state-metrics v2.20 series the dashboard reads.
https://github.com/kubernetes/kube-state-metrics/tree/v2.20.0/docs/metrics/workload"""
PROMQL_WORDS = {"sum", "rate", "by", "le", "histogram_quantile", "max", "version", "pod", "deployment",
                "destination_workload"}


def server_metric_names() -> set[str]:
    """Every series name the real server exposes, from its own registry after one request and one batch."""
    from serving_app.metrics import Metrics

    metrics = Metrics()
    metrics.request_done("/predict", 200, 0.002)
    metrics.batch_dispatched(rows=2, requests=1, queue_waits_s=[0.0001])
    metrics.batch_finished(rows=2, run_s=0.001)
    return {line.split("{")[0].split(" ")[0] for line in metrics.render().decode().splitlines()
            if line and not line.startswith("#")}


def metric_names(query: str) -> set[str]:
    """The series a PromQL query reads: identifiers followed by a label matcher."""
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", query))


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return server_metric_names() | ISTIO_METRICS


def test_the_server_exports_the_names_the_stack_relies_on(exported):
    """The delivery specs' names are the real server's (a rename in serving_app/metrics.py fails here)."""
    for name in (delivery_specs.REQUESTS_METRIC, delivery_specs.LATENCY_BUCKETS_METRIC, delivery_specs.QUEUED_REQUESTS_METRIC,
                 delivery_specs.WAITING_REQUESTS_METRIC):
        assert name in exported
    assert "mlserve_nonexistent_total" not in exported and metric_names('sum(a_b{x="1"}) / c') == {"a_b"}


def test_prod_rolls_out_with_flagger_over_the_deployment_and_autoscaler_that_exist(built_plan):
    plan = built_plan("prod")
    [canary] = plan.of_type(CANARY)
    spec = canary.inputs["spec"]
    namespace = canary.inputs["metadata"]["namespace"]
    deployments = {d.inputs["metadata"]["name"]: d for d in plan.of_type(DEPLOYMENT)
                   if d.inputs["metadata"]["namespace"] == namespace}
    scalers = {s.inputs["metadata"]["name"]: s for s in plan.of_type(SCALED_OBJECT)}
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "model-server"}
    assert set(deployments) == {spec["targetRef"]["name"]}
    scaler = scalers[spec["autoscalerRef"]["name"]]
    assert spec["autoscalerRef"]["kind"] == "ScaledObject" and scaler.inputs["metadata"]["namespace"] == namespace
    assert scaler.inputs["spec"]["scaleTargetRef"]["name"] == spec["targetRef"]["name"]
    # Flagger copies the ScaledObject for the primary with the primary's own queue query.
    [primary_query] = spec["autoscalerRef"]["primaryScalerQueries"].values()
    assert 'workload="model-server-primary"' in primary_query
    # The Canary waits for its target, its autoscaler, Flagger's CRDs, its templates and the load tester.
    waited = set(canary.dependencies)
    assert {deployments["model-server"].urn, scaler.urn} <= waited
    assert {r.urn for r in plan.of_type(TEMPLATE)} <= waited
    assert {r.urn for r in plan.of_type(RELEASE) if r.inputs["chart"] in ("flagger", "loadtester")} <= waited
    assert plan.exports["canary"] == f"{namespace}/model-server"


def test_the_canary_routes_through_the_meshs_gateway_and_hosts(built_plan):
    plan = built_plan("prod")
    [canary] = plan.of_type(CANARY)
    [gateway] = plan.of_type(GATEWAY)
    service = canary.inputs["spec"]["service"]
    assert service["gateways"] == [f"{gateway.inputs['metadata']['namespace']}/{gateway.inputs['metadata']['name']}"]
    assert service["hosts"] == gateway.inputs["spec"]["servers"][0]["hosts"]
    assert service["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
    assert int(service["port"]) == 8080 and service["portName"] == "http"


def test_automatic_declares_no_routes_and_manual_no_canary(built_plan):
    prod, dev = built_plan("prod"), built_plan("dev")
    for kind in ROUTES:
        assert prod.of_type(kind) == [], f"Flagger owns the {kind.rsplit(':', 1)[-1]} in automatic mode"
        assert len(dev.of_type(kind)) == 1
    assert dev.of_type(CANARY) == [] and dev.of_type(TEMPLATE) == []
    assert not [r for r in dev.of_type(RELEASE) if r.inputs["chart"] in ("flagger", "loadtester")]
    assert "route_weights" in dev.exports and "route_weights" not in prod.exports


def test_thresholds_follow_the_settings_and_the_alarms(built_plan):
    plan = built_plan("prod")
    settings = parse(as_config(stack_values("prod")), stack_file="Pulumi.prod.yaml")
    analysis = plan.one(CANARY).inputs["spec"]["analysis"]
    checks = {m["name"]: m for m in analysis["metrics"]}
    assert checks["success-rate"]["thresholdRange"] == {"min": 100 - settings.alarms.error_5xx_percent} == {"min": 98}
    assert checks["latency-p99"]["thresholdRange"] == {"max": settings.alarms.p99_latency_ms}
    assert checks["overload-503"]["thresholdRange"] == {"max": settings.rollout.analysis.max_503_percent}
    a = settings.rollout.analysis
    assert (analysis["interval"], analysis["stepWeight"], analysis["maxWeight"], analysis["threshold"]) == (
        f"{a.interval_seconds}s", a.step_weight, a.max_weight, a.threshold)
    # The same threshold is SageMaker's rollback alarm: one number, both targets.
    five_xx = plan.one("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-sagemaker-stable-5xx")
    assert five_xx.inputs["threshold"] * 100 == 100 - checks["success-rate"]["thresholdRange"]["min"]


def test_changed_settings_change_the_analysis():
    values = copy.deepcopy(stack_values("prod"))
    values["mlserve:alarms"]["p99LatencyMs"] = 120
    values["mlserve:alarms"]["error5xxPercent"] = 0.5
    values["mlserve:rollout"]["analysis"].update(stepWeight=5, maxWeight=30, threshold=2, loadTestRps=20)
    plan = engine.run_program(ROOT / "__main__.py", stack="prod", config=as_config(values))
    analysis = plan.one(CANARY).inputs["spec"]["analysis"]
    checks = {m["name"]: m["thresholdRange"] for m in analysis["metrics"]}
    assert checks["success-rate"] == {"min": 99.5} and checks["latency-p99"] == {"max": 120}
    assert (analysis["stepWeight"], analysis["maxWeight"], analysis["threshold"]) == (5, 30, 2)
    [_, load] = analysis["webhooks"]
    assert load["type"] == "rollout" and load["metadata"]["cmd"].startswith("hey -z 60s -q 2 -c 10 -m POST")


def test_metric_templates_and_the_scaler_query_names_the_server_and_istio_export(built_plan, exported):
    plan = built_plan("prod")
    templates = {t.inputs["metadata"]["name"]: t.inputs["spec"] for t in plan.of_type(TEMPLATE)}
    assert set(templates) == {m["templateRef"]["name"] for m in plan.one(CANARY).inputs["spec"]["analysis"]["metrics"]}
    for name, spec in templates.items():
        assert spec["provider"] == {"type": "prometheus", "address": prometheus_values.PROMETHEUS_URL}
        names = metric_names(spec["query"])
        assert names and names <= exported, f"{name} reads {names - exported}, which nothing exports"
    assert metric_names(templates["mlserve-overload-503"]["query"]) == {"mlserve_requests_total"}
    for scaler in plan.of_type(SCALED_OBJECT) + built_plan("dev").of_type(SCALED_OBJECT):
        [queue] = [t for t in scaler.inputs["spec"]["triggers"] if t["type"] == "prometheus"]
        assert metric_names(queue["metadata"]["query"]) == {"mlserve_queue_depth_requests", "mlserve_requests_waiting"}
        assert queue["metadata"]["serverAddress"] == prometheus_values.PROMETHEUS_URL


def test_prometheus_reaches_the_serving_pods_on_the_port_the_mesh_leaves_to_it(built_plan):
    for stack in ("dev", "prod"):
        plan = built_plan(stack)
        [monitor] = plan.of_type(POD_MONITOR)
        [endpoint] = monitor.inputs["spec"]["podMetricsEndpoints"]
        port = int(endpoint["portNumber"])
        assert (port, endpoint["path"]) == (15020, "/stats/prometheus")
        namespace = monitor.inputs["metadata"]["namespace"]
        assert monitor.inputs["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
        # It selects every serving pod (Flagger's primary included) ...
        [expression] = monitor.inputs["spec"]["selector"]["matchExpressions"]
        for deployment in plan.of_type(DEPLOYMENT):
            if deployment.inputs["metadata"]["namespace"] == namespace:
                labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
                assert labels[expression["key"]] in expression["values"]
                # ... whose sidecars merge the server's metrics into that port (the prometheus.io annotations).
                assert deployment.inputs["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
        # The NetworkPolicy admits Prometheus' pods (as the operator labels them) to exactly that port ...
        policy = plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mesh-server-ingress").inputs["spec"]
        [scrape] = [rule for rule in policy["ingress"] if {int(p["port"]) for p in rule["ports"]} == {port}]
        assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": prometheus_values.NAMESPACE}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}} in scrape["from"]
        # ... and no AuthorizationPolicy rule pretends to govern it: Istio does not capture 15020.
        [authz] = plan.of_type("kubernetes:security.istio.io/v1:AuthorizationPolicy")
        rules = authz.inputs["spec"]["rules"]
        assert all("/metrics" not in rule["to"][0]["operation"].get("paths", []) for rule in rules)
        assert all(str(port) not in rule["to"][0]["operation"]["ports"] for rule in rules)


def test_the_metrics_stack_is_sized_by_the_settings_on_encrypted_gp3(built_plan):
    plan = built_plan("prod")
    settings = parse(as_config(stack_values("prod")), stack_file="Pulumi.prod.yaml").monitoring
    [storage_class] = plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.inputs["provisioner"] == "ebs.csi.aws.com"
    assert storage_class.inputs["parameters"]["type"] == "gp3" and storage_class.inputs["parameters"]["encrypted"] == "true"
    assert storage_class.inputs["reclaimPolicy"] == "Retain" and storage_class.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    [release] = [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]
    spec = release.inputs["values"]["prometheus"]["prometheusSpec"]
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == storage_class.inputs["metadata"]["name"]
    assert claim["resources"]["requests"]["storage"] == f"{settings.storage_gib}Gi"
    assert spec["retention"] == f"{settings.retention_days}d" and int(spec["replicas"]) == settings.prometheus_replicas
    assert release.inputs["values"]["prometheus"]["serviceAccount"]["name"] == prometheus_values.PROMETHEUS_SERVICE_ACCOUNT
    grafana = release.inputs["values"]["grafana"]
    assert grafana["grafana.ini"]["auth.anonymous"] == {"enabled": False}
    assert grafana["ingress"] == {"enabled": False} and grafana["service"]["type"] == "ClusterIP"
    assert release.dependencies and storage_class.urn in release.dependencies


def test_every_chart_and_its_images_are_pinned(built_plan):
    releases = {r.inputs["chart"]: r for r in built_plan("prod").of_type(RELEASE)}
    assert {"kube-prometheus-stack", "keda", "flagger", "loadtester"} <= set(releases)
    stack = releases["kube-prometheus-stack"].inputs["values"]
    tags = {
        "prometheus": stack["prometheus"]["prometheusSpec"]["image"]["tag"],
        "prometheus-operator": stack["prometheusOperator"]["image"]["tag"],
        "prometheus-config-reloader": stack["prometheusOperator"]["prometheusConfigReloader"]["image"]["tag"],
        "admission-webhook": stack["prometheusOperator"]["admissionWebhooks"]["deployment"]["image"]["tag"],
        "kube-webhook-certgen": stack["prometheusOperator"]["admissionWebhooks"]["patch"]["image"]["tag"],
        "kube-state-metrics": stack["kube-state-metrics"]["image"]["tag"],
        "grafana": stack["grafana"]["image"]["tag"], "k8s-sidecar": stack["grafana"]["sidecar"]["image"]["tag"],
    }
    assert tags == prometheus_values.IMAGES
    assert {k: v["tag"] for k, v in releases["keda"].inputs["values"]["image"].items() if isinstance(v, dict)} == {
        "keda": keda.IMAGE_TAG, "metricsApiServer": keda.IMAGE_TAG, "webhooks": keda.IMAGE_TAG}
    image = releases["flagger"].inputs["values"]["image"]
    assert (image["repository"], image["tag"]) == flagger.IMAGE
    image = releases["loadtester"].inputs["values"]["image"]
    assert (image["repository"], image["tag"]) == flagger.LOADTESTER_IMAGE
    assert releases["flagger"].inputs["values"]["meshProvider"] == "istio"


def test_the_preview_lists_prometheus_grafana_flagger_the_canary_and_the_scaler(built_plan):
    from mlserve.offline.routes import metrics_lines, route_lines

    text = "\n".join(route_lines(built_plan("prod")) + metrics_lines(built_plan("prod")))
    for expected in ("Automatic rollout (Flagger Canary model-server via istio-ingress/mlserve-gateway)",
                     "check success-rate (mlserve-success-rate): min 98", "check latency-p99 (mlserve-latency-p99): max 250",
                     "webhook acceptance (pre-rollout)", "Prometheus v3.14.0-distroless", "Grafana 13.2.0: no anonymous access",
                     "Flagger 1.44.0", "KEDA 2.20.2", "Autoscaler model-server: 2-8 replicas on queued-requests 4/pod, cpu 70%"):
        assert expected in text
    dev = "\n".join(route_lines(built_plan("dev")) + metrics_lines(built_plan("dev")))
    assert "weighted -> stable 100%" in dev and "Flagger" not in dev and "Autoscaler model-server-stable" in dev


def test_under_flagger_the_eks_alarms_watch_the_primary(built_plan):
    pods = {a.inputs["name"]: a.inputs["dimensions"]["PodName"] for a in built_plan("prod").of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            if "PodName" in (a.inputs.get("dimensions") or {})}
    assert pods == {"mlserve-prod-eks-stable-pending": "model-server-primary",
                    "mlserve-prod-eks-stable-restarts": "model-server-primary"}
    manual = {a.inputs["dimensions"]["PodName"] for a in built_plan("dev").of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
              if "PodName" in (a.inputs.get("dimensions") or {})}
    assert manual == {"model-server-stable"}


def test_the_load_tester_namespace_takes_flaggers_calls_and_reaches_only_the_server(built_plan):
    [policy] = [p for p in built_plan("prod").of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if p.inputs["metadata"]["namespace"] == flagger.LOADTESTER_NAMESPACE]
    spec = policy.inputs["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": flagger.NAMESPACE}}}],
                                "ports": [{"protocol": "TCP", "port": 8080}]}]
    to_server = spec["egress"][-1]
    assert to_server["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlserve-serving"}}}]


def test_the_acceptance_check_sends_the_published_versions_sample_rows_and_expects_that_version(built_plan):
    """prod's rows come from the store (`aws.s3.get_object` of models/fraud-model/4/sample.json, which the
    offline account answers with the demo model's sample), dev's from its local artifact directory."""
    import json

    rows = json.loads((ROOT / "build" / "demo-model" / "sample.json").read_text())["rows"]
    [webhook] = built_plan("prod").one(CANARY).inputs["spec"]["analysis"]["webhooks"]
    assert webhook["type"] == "pre-rollout" and webhook["url"] == flagger.LOADTESTER_URL
    assert webhook["metadata"]["cmd"] == delivery_specs.acceptance_command(
        url="http://model-server-canary.mlserve-serving:8080", rows=rows, expected_version="4")
    with pytest.raises(NotImplementedError, match="holds no"):
        engine.published_object("b", "models/fraud-model/4/model.joblib")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_vpc_cni_enforces_network_policies(stack, built_plan):
    """The NetworkPolicies mean nothing unless the VPC CNI's network policy agent runs: the add-on's
    configuration turns it on (its schema types the flag as a string)."""
    import json

    addons = {a.inputs["addonName"]: a.inputs.get("configurationValues") for a in built_plan(stack).of_type("aws:eks/addon:Addon")}
    assert json.loads(addons["vpc-cni"]) == {"enableNetworkPolicy": "true"}
    assert built_plan(stack).of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")


def test_a_local_model_in_automatic_mode_sends_its_own_sample_and_expects_its_uploaded_version():
    import json

    values = copy.deepcopy(stack_values("dev"))
    values["mlserve:rollout"] = {"mode": "automatic"}
    plan = engine.run_program(ROOT / "__main__.py", stack="dev", config=as_config(values))
    [webhook] = plan.one(CANARY).inputs["spec"]["analysis"]["webhooks"]
    rows = json.loads((ROOT / "build" / "demo-model" / "sample.json").read_text())["rows"]
    version = plan.exports["model_uris"]["stable"].rstrip("/").rsplit("/", 1)[-1]
    assert version.startswith("local-")
    assert webhook["metadata"]["cmd"] == delivery_specs.acceptance_command(
        url="http://model-server-canary.mlserve-serving:8080", rows=rows, expected_version=version)
    assert [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == "flagger"]
