"""Progressive delivery as plain data: the PromQL the canary analysis and the autoscaler run, the
bodies of Flagger's Canary and MetricTemplates, KEDA's ScaledObject and the Prometheus Operator's
PodMonitor. `components/flagger.py`, `components/canary.py`, `components/serving.py` and
`components/metrics_stack.py` declare them; tests validate them against the pinned CRDs and check
every metric name against what `serving_app/metrics.py` and Istio export.

Which numbers, and why (the same ones the EKS alarms read):
- the server's metrics reach Prometheus the way they reach the CloudWatch agent: each pod's
  sidecar merges them into its own on :15020/stats/prometheus (components/serving_pods.py);
- p99 latency and the 503 share come from the server's own counters and histogram, the numbers the
  CloudWatch alarms (`mlserve_request_duration_p99_seconds`, `mlserve_requests_total`) are built from;
- the success rate comes from Istio's `istio_requests_total` seen by the pod's own sidecar, which also
  counts the 5xx the server never answers itself (a crash, a reset, an upstream connect error).
Flagger template variables: https://docs.flagger.app/usage/metrics#custom-metrics
"""

from __future__ import annotations

import json
from typing import Any

from components.serving_contract import APP_NAME, SERVICE_PORT

FLAGGER_API = "flagger.app/v1beta1"
KEDA_API = "keda.sh/v1alpha1"
MONITORING_API = "monitoring.coreos.com/v1"

REQUESTS_METRIC = "mlserve_requests_total"
"""serving_app's `mlserve_requests` counter as exposed (by route and status)."""
LATENCY_BUCKETS_METRIC = "mlserve_request_duration_seconds_bucket"
"""serving_app's request-latency histogram buckets (by route)."""
QUEUED_REQUESTS_METRIC = "mlserve_queue_depth_requests"
"""serving_app's per-pod gauge of requests waiting for the model (admitted, not yet in a batch)."""
WAITING_REQUESTS_METRIC = "mlserve_requests_waiting"
"""serving_app's per-pod gauge of requests waiting, unparsed, for admission (serving_app/admission.py).
With the queued ones: every request the pod holds but is not yet working on, the autoscaler's load signal."""
ISTIO_REQUESTS_METRIC = "istio_requests_total"
"""Istio's standard request counter. https://istio.io/v1.30/docs/reference/config/metrics/"""

PREDICTION_ROUTES = "/predict|/invocations|/v2/models/[^/]+/infer"
"""The `route` label values of prediction requests (probes and /metrics scrapes are left out)."""
WORKLOAD_LABEL = "workload"
"""The label the PodMonitor gives every series: the pod's `app.kubernetes.io/name` (the Deployment
that made it: "model-server" for Flagger's canary, "model-server-primary" for its primary, or
"model-server" in manual mode where `track` tells the two versions apart)."""


def _server(extra: str = "") -> str:
    return f'namespace="{{{{ namespace }}}}", {WORKLOAD_LABEL}="{{{{ target }}}}", route=~"{PREDICTION_ROUTES}"{extra}'


def success_rate_query() -> str:
    """Percent of the canary's requests its sidecar answered with anything but 5xx."""
    where = 'reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload="{{ target }}"'
    return (f'sum(rate({ISTIO_REQUESTS_METRIC}{{{where}, response_code!~"5.."}}[{{{{ interval }}}}])) / '
            f'sum(rate({ISTIO_REQUESTS_METRIC}{{{where}}}[{{{{ interval }}}}])) * 100')


def latency_p99_query() -> str:
    """The canary's p99 prediction latency in milliseconds, from the server's own histogram."""
    return (f"histogram_quantile(0.99, sum by (le) (rate({LATENCY_BUCKETS_METRIC}{{{_server()}}}"
            f"[{{{{ interval }}}}]))) * 1000")


def overload_503_query() -> str:
    """Percent of the canary's prediction requests the server refused with 503 (its queue was full)."""
    refused, window = _server(', status="503"'), "[{{ interval }}]"
    return f"sum(rate({REQUESTS_METRIC}{{{refused}}}{window})) / sum(rate({REQUESTS_METRIC}{{{_server()}}}{window})) * 100"


METRIC_TEMPLATES = {
    "mlserve-success-rate": success_rate_query,
    "mlserve-latency-p99": latency_p99_query,
    "mlserve-overload-503": overload_503_query,
}
"""MetricTemplate name -> its query."""


def metric_template_spec(name: str, *, prometheus_url: str) -> dict[str, Any]:
    return {"provider": {"type": "prometheus", "address": prometheus_url}, "query": METRIC_TEMPLATES[name]()}


def queued_requests_query(namespace: str, pods: dict[str, str]) -> str:
    """Requests waiting across one Deployment's pods, for the model or for admission (both gauges: a
    pod at its admission limit holds the excess unparsed, so the model's queue alone stops growing
    exactly when more pods are needed). `pods`: the series labels that select them:
    `track` in manual mode, `workload` under Flagger). KEDA's Prometheus trigger with
    `metricType: AverageValue` divides it by the pod count, so the threshold is per pod.
    https://keda.sh/docs/2.20/scalers/prometheus/"""
    selector = ", ".join(f'{key}="{value}"' for key, value in {"namespace": namespace, **pods}.items())
    return f"sum({QUEUED_REQUESTS_METRIC}{{{selector}}}) + sum({WAITING_REQUESTS_METRIC}{{{selector}}})"


QUEUE_TRIGGER = "queued-requests"


def scaled_object_spec(*, deployment: str, namespace: str, pods: dict[str, str], container: str, prometheus_url: str,
                       min_replicas: int,
                       max_replicas: int, queued_requests_target: int, cpu_target_percent: int,
                       behavior: dict[str, Any]) -> dict[str, Any]:
    """KEDA scales `deployment` on queued requests per pod (from Prometheus) and the server container's
    CPU; the HPA it makes takes the larger answer. If Prometheus cannot be read, KEDA holds the
    current replicas after 3 failures rather than guessing (`fallback`: the minimum of the settings).
    https://keda.sh/docs/2.20/reference/scaledobject-spec/"""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "pollingInterval": 15,
        "minReplicaCount": min_replicas,
        "maxReplicaCount": max_replicas,
        "fallback": {"failureThreshold": 3, "replicas": min_replicas},
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior}},
        "triggers": [
            {"type": "prometheus", "name": QUEUE_TRIGGER, "metricType": "AverageValue",
             "metadata": {"serverAddress": prometheus_url, "query": queued_requests_query(namespace, pods),
                          "threshold": str(queued_requests_target), "ignoreNullValues": "true"}},
            {"type": "cpu", "name": "cpu", "metricType": "Utilization",
             "metadata": {"value": str(cpu_target_percent), "containerName": container}},
        ],
    }


def acceptance_command(*, url: str, rows: list[list[float]], expected_version: str) -> str:
    """The pre-rollout check the load tester runs (bash, curl and jq are in its image): the model's
    sample rows to the canary; a non-200, a count of predictions other than the rows', or another
    model version answering fails it, and Flagger does not shift traffic. The same rules as
    `python -m mlserve.checks smoke` (mlserve/checks/smoke.py)."""
    body = json.dumps({"instances": rows}, separators=(",", ":"))
    check = (f'(.predictions | length) == {len(rows)} and (.model.version | tostring) == {json.dumps(expected_version)}')
    # pipefail: without it a curl that fails hands jq no input, and `jq -e` of nothing exits 0.
    return (f"set -o pipefail; curl -sS --fail-with-body --max-time 10 -H 'content-type: application/json' "
            f"--data-raw '{body}' {url}/predict | jq -e '{check}'")


def load_test_command(*, url: str, rows: list[list[float]], rps: int, seconds: int) -> str:
    """`hey` (in the load tester's image) posting the sample rows at `rps` for one analysis interval."""
    body = json.dumps({"instances": rows}, separators=(",", ":"))
    workers = max(1, min(rps, 10))
    return (f"hey -z {seconds}s -q {max(1, rps // workers)} -c {workers} -m POST -T application/json "
            f"-d '{body}' {url}/predict")


def canary_spec(*, namespace: str, gateway: str, hosts: list[str], autoscaler: str, interval_s: int, step_weight: int,
                max_weight: int, threshold: int, min_success_percent: float, max_latency_ms: float,
                max_503_percent: float, templates_namespace: str, loadtester_url: str,
                acceptance_cmd: str, load_test_cmd: str | None, alert_provider: str | None, timeout_s: float,
                max_pending_requests: int, progress_deadline_s: int) -> dict[str, Any]:
    """The Canary of the model server's Deployment (Flagger's target; it makes `<target>-primary`, the
    Services, the VirtualService and the DestinationRules from this). The routes and traffic policy
    mirror the manual mode's (components/routing.py): the mesh's Gateway and hosts, mTLS, bounded
    pending requests, outlier detection, the route timeout and retries.
    https://docs.flagger.app/usage/how-it-works#canary-resource"""
    interval = f"{interval_s}s"

    def check(name: str, template: str, **bounds: float) -> dict[str, Any]:
        return {"name": name, "templateRef": {"name": template, "namespace": templates_namespace},
                "thresholdRange": bounds, "interval": interval}

    webhooks: list[dict[str, Any]] = [{
        "name": "acceptance", "type": "pre-rollout", "url": loadtester_url, "timeout": "60s",
        "metadata": {"type": "bash", "cmd": acceptance_cmd}}]
    if load_test_cmd is not None:
        webhooks.append({"name": "load-test", "type": "rollout", "url": loadtester_url, "timeout": "15s",
                         "metadata": {"type": "cmd", "cmd": load_test_cmd}})
    analysis: dict[str, Any] = {
        "interval": interval, "threshold": threshold, "maxWeight": max_weight, "stepWeight": step_weight,
        "metrics": [
            check("success-rate", "mlserve-success-rate", min=min_success_percent),
            check("latency-p99", "mlserve-latency-p99", max=max_latency_ms),
            check("overload-503", "mlserve-overload-503", max=max_503_percent),
        ],
        "webhooks": webhooks,
    }
    if alert_provider is not None:
        analysis["alerts"] = [{"name": "rollout", "severity": "info",
                               "providerRef": {"name": alert_provider, "namespace": namespace}}]
    return {
        "provider": "istio",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP_NAME},
        "autoscalerRef": {"apiVersion": KEDA_API, "kind": "ScaledObject", "name": autoscaler,
                          "primaryScalerQueries": {
                              QUEUE_TRIGGER: queued_requests_query(namespace, {WORKLOAD_LABEL: f"{APP_NAME}-primary"})}},
        "progressDeadlineSeconds": progress_deadline_s,
        "service": {
            "port": SERVICE_PORT, "targetPort": "http", "portName": "http", "appProtocol": "http",
            "gateways": [gateway], "hosts": list(hosts),
            "timeout": f"{timeout_s:g}s",
            "retries": {"attempts": 2, "retryOn": "connect-failure,refused-stream,reset"},
            "trafficPolicy": {
                "tls": {"mode": "ISTIO_MUTUAL"},
                "connectionPool": {"http": {"http1MaxPendingRequests": max_pending_requests, "idleTimeout": "300s"}},
                "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s",
                                     "maxEjectionPercent": 50},
            },
        },
        "analysis": analysis,
    }


def pod_monitor_spec(*, namespace: str, app_label: str, track_label: str, version_label: str) -> dict[str, Any]:
    """Prometheus scrapes each serving pod where the CloudWatch agent does: the sidecar's merged
    endpoint (:15020/stats/prometheus, plain HTTP, outside Envoy's inbound listener: Istio leaves
    ports 15090, 15021 and 15020 out of traffic capture), which carries the server's metrics and
    Istio's. `workload`, `track` and `version` are copied from the pod's labels onto every series.
    https://istio.io/v1.30/docs/ops/integrations/prometheus/#option-1-metrics-merging"""
    def meta(label: str) -> str:
        return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)

    return {
        "namespaceSelector": {"matchNames": [namespace]},
        "selector": {"matchExpressions": [{"key": app_label, "operator": "In",
                                           "values": [APP_NAME, f"{APP_NAME}-primary"]}]},
        "podMetricsEndpoints": [{
            "portNumber": MERGED_METRICS_PORT, "path": MERGED_METRICS_PATH, "scheme": "HTTP", "interval": "15s",
            "relabelings": [
                {"sourceLabels": [meta(app_label)], "targetLabel": WORKLOAD_LABEL, "action": "replace"},
                {"sourceLabels": [meta(track_label)], "targetLabel": "track", "action": "replace"},
                {"sourceLabels": [meta(version_label)], "targetLabel": "version", "action": "replace"},
            ],
        }],
    }


MERGED_METRICS_PORT = 15020
MERGED_METRICS_PATH = "/stats/prometheus"
