"""EKS monitoring in the whole program: the CloudWatch Observability add-on collects exactly the
serving metrics the EKS alarms read, from the pods the serving contract names."""

from __future__ import annotations

import json
import re

from components.alarm_specs import PROMETHEUS_NAMESPACE
from components.serving_contract import APP_NAME, SERVING_NAMESPACE
from tests.serving_app.conftest import fake_server  # noqa: F401 (fixture)

ADDON = "aws:eks/addon:Addon"


def _addon(plan):
    [addon] = [a for a in plan.of_type(ADDON) if a.inputs["addonName"] == "amazon-cloudwatch-observability"]
    return addon


def test_every_prometheus_alarm_reads_a_metric_the_agent_publishes_with_those_dimensions(built_plan):
    plan = built_plan("prod")
    agent = json.loads(_addon(plan).inputs["configurationValues"])["agent"]
    emf = agent["config"]["logs"]["metrics_collected"]["prometheus"]["emf_processor"]
    assert emf["metric_namespace"] == PROMETHEUS_NAMESPACE
    published = {(selector.strip("^$"), tuple(sorted(dims)))
                 for declaration in emf["metric_declaration"] for dims in declaration["dimensions"]
                 for selector in declaration["metric_selectors"]}
    read = set()
    for alarm in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        metrics = [q["metric"] for q in alarm.inputs.get("metricQueries", []) if "metric" in q]
        if alarm.inputs.get("namespace"):
            metrics.append({"namespace": alarm.inputs["namespace"], "metricName": alarm.inputs["metricName"],
                            "dimensions": alarm.inputs["dimensions"]})
        read |= {(m["metricName"], tuple(sorted(m["dimensions"]))) for m in metrics if m["namespace"] == PROMETHEUS_NAMESPACE}
    assert read, "no alarm reads the serving pods' own metrics"
    assert read <= published


def test_the_scrape_keeps_only_the_model_server_pods_and_labels_their_track(built_plan):
    scrape = json.loads(_addon(built_plan("prod")).inputs["configurationValues"])["agent"]["prometheus"]["config"]
    [job] = scrape["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": [SERVING_NAMESPACE]}}]
    app, track = "__meta_kubernetes_pod_label_app_kubernetes_io_name", "__meta_kubernetes_pod_label_mlserve_io_track"
    scrape_annotation = {"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true"}
    # Manual mode: the pod's track label; under Flagger (no track label) the primary is stable, the target the canary.
    assert _relabel(job["relabel_configs"], {app: APP_NAME, track: "stable", **scrape_annotation})["track"] == "stable"
    assert _relabel(job["relabel_configs"], {app: APP_NAME, track: "canary", **scrape_annotation})["track"] == "canary"
    assert _relabel(job["relabel_configs"], {app: f"{APP_NAME}-primary", **scrape_annotation})["track"] == "stable"
    assert _relabel(job["relabel_configs"], {app: APP_NAME, **scrape_annotation})["track"] == "canary"
    assert _relabel(job["relabel_configs"], {app: "flagger-loadtester", **scrape_annotation}) is None  # not kept
    classes = {r["replacement"]: r["regex"] for r in job["metric_relabel_configs"]}
    assert re.fullmatch(classes["5xx"], "503") and not re.fullmatch(classes["5xx"], "404")
    assert re.fullmatch(classes["other"], "404") and not re.fullmatch(classes["other"], "500")


def _relabel(rules: list[dict], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' relabelling (replace and keep, anchored regexes, ';' separator, defaults (.*) and $1).
    https://prometheus.io/docs/prometheus/latest/configuration/configuration/#relabel_config"""
    labels = dict(labels)
    for rule in rules:
        value = ";".join(labels.get(name, "") for name in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if rule.get("action", "replace") == "keep":
            if match is None:
                return None
        elif match is not None:
            labels[rule["target_label"]] = match.expand(rule.get("replacement", "$1").replace("$", "\\"))
    return labels


def test_the_agent_runs_with_its_own_irsa_role_after_the_nodes(built_plan):
    plan = built_plan("prod")
    addon = _addon(plan)
    role = plan.one("aws:iam/role:Role", "monitoring-agent-irsa")
    assert addon.inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:amazon-cloudwatch:cloudwatch-agent" in statement["Condition"]["StringEquals"].values()
    node_groups = {n.urn for n in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert node_groups and node_groups <= set(addon.dependencies)
    assert addon.delete_before_replace


def test_the_add_on_configuration_uses_keys_of_its_chart(built_plan):
    """The add-on's configuration values are the chart's values: every key we set must exist in
    the vendored values.yaml of the chart release the pinned add-on is built from."""
    from components.eks_monitoring import ADDON_VERSIONS, CHART_VERSION
    from tests.components.test_cluster_addons import CHARTS, _unknown_key_paths

    addon = _addon(built_plan("prod"))
    assert addon.inputs["addonVersion"] in {f"v{CHART_VERSION}-eksbuild.{n}" for n in range(1, 10)}
    assert set(ADDON_VERSIONS.values()) == {addon.inputs["addonVersion"]}
    directory = CHARTS / f"amazon-cloudwatch-observability-{CHART_VERSION}"
    assert (directory / "LICENSE").is_file()
    defaults = __import__("yaml").safe_load((directory / "values.yaml").read_text())
    values = json.loads(addon.inputs["configurationValues"])
    assert list(_unknown_key_paths(values, defaults, set())) == []
    assert list(_unknown_key_paths({"agent": {"prometheuss": {}}}, defaults, set())) == ["agent.prometheuss"]


def test_the_server_exports_every_metric_the_agent_keeps_with_the_labels_it_relabels(built_plan, fake_server):
    """Across the two layers: what the EMF declarations select and the scrape relabels (status),
    the model server really exposes on /metrics, as gauges or counters (the agent drops histograms)."""
    from prometheus_client.parser import text_string_to_metric_families

    fake_server.client.post("/predict", json={"instances": [[1, 2, 3, 4]]})
    families = {f.name: f for f in text_string_to_metric_families(fake_server.client.get("/metrics").text)}
    agent = json.loads(_addon(built_plan("prod")).inputs["configurationValues"])["agent"]
    declarations = agent["config"]["logs"]["metrics_collected"]["prometheus"]["emf_processor"]["metric_declaration"]
    selected = {selector.strip("^$") for d in declarations for selector in d["metric_selectors"]}
    exposed = {}
    for family in families.values():
        for sample in family.samples:
            exposed[sample.name] = (family.type, sample.labels)
    for name in selected:
        assert name in exposed, f"{name} is not on the server's /metrics"
        assert exposed[name][0] in ("gauge", "counter"), f"{name} is a {exposed[name][0]}: the agent would drop it"
    assert "status" in exposed["mlserve_requests_total"][1]


def _meta(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def test_the_serving_pods_are_what_the_scrape_keeps_and_point_it_at_the_servers_port(built_plan):
    """The agent's keep rules, evaluated on each serving Deployment's declared pod template (labels,
    annotations) as Kubernetes service discovery presents them: every track is scraped, on the
    server's own port and route (which Istio then folds into its merged endpoint)."""
    for stack in ("dev", "prod"):
        plan = built_plan(stack)
        [job] = json.loads(_addon(plan).inputs["configurationValues"])["agent"]["prometheus"]["config"]["scrape_configs"]
        keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
        deployments = [d for d in plan.of_type("kubernetes:apps/v1:Deployment")
                       if d.inputs["metadata"]["namespace"] == SERVING_NAMESPACE]
        assert deployments, stack
        for deployment in deployments:
            template = deployment.inputs["spec"]["template"]
            meta = {f"__meta_kubernetes_pod_label_{_meta(k)}": v for k, v in template["metadata"]["labels"].items()}
            meta |= {f"__meta_kubernetes_pod_annotation_{_meta(k)}": v for k, v in template["metadata"]["annotations"].items()}
            for rule in keep:
                value = ";".join(meta.get(label, "") for label in rule["source_labels"])
                assert re.fullmatch(rule["regex"], value), (stack, deployment.name, rule)
            [server] = [c for c in template["spec"]["containers"] if c["name"] == "model-server"]
            ports = {int(p["containerPort"]) for p in server["ports"]}
            assert int(template["metadata"]["annotations"]["prometheus.io/port"]) in ports
            assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
