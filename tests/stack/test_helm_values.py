"""Every Helm release both stacks declare sets only keys its pinned chart knows: values checked
against the chart's own values.yaml, vendored with its LICENSE under tests/data/charts/<chart>-<version>/.
A subchart's keys (kube-prometheus-stack's `grafana` and `kube-state-metrics`) are checked against
that subchart's values.yaml at the version the parent chart pins."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.components.addons_support import CHARTS
from tests.components.test_cluster_addons import _unknown_key_paths

RELEASE = "kubernetes:helm.sh/v3:Release"
SUBCHARTS = {"kube-prometheus-stack": {"grafana": "grafana-12.11.1", "kube-state-metrics": "kube-state-metrics-8.4.0"}}
"""Parent chart -> {values key: vendored subchart folder}; versions from kube-prometheus-stack 88.5.3's Chart.yaml."""
FREE_FORM = {
    "cluster-autoscaler": {("extraArgs",)},
    "istiod": {("meshConfig",), ("pdb",)},
    "gateway": {("labels",)},
    # Grafana's ini file is free-form (the chart renders any section); Flagger's and the load tester's
    # securityContext.context are a container securityContext passed through as written.
    "grafana": {("grafana.ini",)},
    "flagger": {("securityContext", "context")},
    "loadtester": {("securityContext", "context"), ("podSecurityContext", "context")},
}


def _defaults(folder: str) -> dict[str, Any]:
    defaults = yaml.safe_load((CHARTS / folder / "values.yaml").read_text())
    return defaults.get("_internal_defaults_do_not_set", defaults)  # Istio's charts keep them there


def unknown_keys(chart: str, version: str, values: dict[str, Any]) -> list[str]:
    folder = f"{chart}-{version}"
    assert (CHARTS / folder / "values.yaml").is_file() and (CHARTS / folder / "LICENSE").is_file(), f"vendor {folder}"
    subcharts = SUBCHARTS.get(chart, {})
    own = {k: v for k, v in values.items() if k not in subcharts}
    unknown = list(_unknown_key_paths(own, _defaults(folder), FREE_FORM.get(chart, set())))
    for key, sub_folder in subcharts.items():
        if key in values:
            sub_chart = sub_folder.rsplit("-", 1)[0]
            unknown += [f"{key}.{path}" for path in
                        _unknown_key_paths(values[key], _defaults(sub_folder), FREE_FORM.get(sub_chart, set()))]
    return unknown


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_release_sets_only_keys_its_chart_has(stack, built_plan):
    releases = built_plan(stack).of_type(RELEASE)
    assert {"kube-prometheus-stack", "keda"} <= {r.inputs["chart"] for r in releases}
    for release in releases:
        unknown = unknown_keys(release.inputs["chart"], release.inputs["version"], release.inputs["values"])
        assert not unknown, f"{release.name} ({release.inputs['chart']} {release.inputs['version']}): no such key(s) {unknown}"


def test_the_check_catches_a_misspelled_key_in_a_chart_and_in_a_subchart():
    assert unknown_keys("kube-prometheus-stack", "88.5.3", {
        "prometheus": {"prometheusSpec": {"retension": "1d"}}, "grafana": {"adminPasswrd": "x"},
        "kube-state-metrics": {"image": {"tag": "v1"}}}) == ["prometheus.prometheusSpec.retension", "grafana.adminPasswrd"]
    assert unknown_keys("flagger", "1.44.0", {"meshProvider": "istio", "metricServer": "x"}) == ["metricServer"]
