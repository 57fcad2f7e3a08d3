"""ClusterAddons under the offline engine: what the add-ons may touch, where they run, what is pinned.

Each test reads the recorded inputs (the Helm values and IAM documents exactly as they would
be sent) and asserts an intent, not a snapshot.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest
import yaml

from tests.components.addons_support import (
    CHARTS,
    GPU_TAINT,
    RELEASE,
    addons_args,
    release_of,
    values_of,
)
from tests.k8s_schema import ManifestInvalid, manifest_from_inputs, validate_manifest

# --- NVIDIA device plugin ------------------------------------------------------------------


def _node_matches(values: dict[str, Any], labels: dict[str, str]) -> bool:
    """Would the device plugin's nodeSelector and required node affinity admit a node with `labels`?"""
    if any(labels.get(key) != value for key, value in values.get("nodeSelector", {}).items()):
        return False
    required = values.get("affinity", {}).get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True

    def expression_holds(expression: dict[str, Any]) -> bool:
        operator, key = expression["operator"], expression["key"]
        if operator == "In":
            return labels.get(key) in expression["values"]
        if operator == "Exists":
            return key in labels
        if operator == "NotIn":
            return labels.get(key) not in expression["values"]
        if operator == "DoesNotExist":
            return key not in labels
        raise AssertionError(f"operator {operator} not modelled by this test")

    # Terms are ORed, the expressions of one term ANDed.
    return any(all(map(expression_holds, term.get("matchExpressions", []))) for term in required["nodeSelectorTerms"])


@pytest.mark.parametrize(
    "gpu_node_selector",
    [None, {"mlserve.io/accelerator": "nvidia", "nvidia.com/gpu.present": "true"}],
    ids=["default-selector", "custom-selector"],
)
def test_device_plugin_runs_on_gpu_nodes_and_nowhere_else(build, gpu_node_selector):
    plan = build(**({"gpu_node_selector": gpu_node_selector} if gpu_node_selector else {}))
    values = values_of(plan, "nvidia-device-plugin")
    gpu_labels = gpu_node_selector or {"nvidia.com/gpu.present": "true"}

    assert _node_matches(values, {**gpu_labels, "kubernetes.io/os": "linux"})
    # A CPU node, and nodes carrying only part of the GPU labels or NFD's NVIDIA label (the
    # chart's default affinity would admit the latter), must not get the plugin.
    assert not _node_matches(values, {"kubernetes.io/os": "linux"})
    assert not _node_matches(values, {"feature.node.kubernetes.io/pci-10de.present": "true"})
    for missing in gpu_labels:
        partial = {key: value for key, value in gpu_labels.items() if key != missing}
        assert not _node_matches(values, partial), f"admits a node without {missing}"


def test_device_plugin_tolerates_exactly_the_gpu_taint(plan):
    values = values_of(plan, "nvidia-device-plugin")
    assert values["tolerations"] == [{"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}]


def test_device_plugin_tolerates_the_configured_taint_key(build):
    values = values_of(build(gpu_taint_key="example.com/accelerator"), "nvidia-device-plugin")
    assert [t["key"] for t in values["tolerations"]] == ["example.com/accelerator"]


def test_no_addon_tolerates_every_taint(plan):
    for release in plan.of_type(RELEASE):
        for toleration in release.inputs["values"].get("tolerations", []):
            assert toleration.get("key"), f"{release.name}: toleration without key tolerates every taint: {toleration}"


def test_device_plugin_is_node_critical_in_its_own_privileged_namespace(plan):
    release = release_of(plan, "nvidia-device-plugin")
    namespace = plan.one("kubernetes:core/v1:Namespace")
    assert release.inputs["values"]["priorityClassName"] == "system-node-critical"
    assert release.inputs["namespace"] == namespace.inputs["metadata"]["name"]
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert plan.exports["device_plugin_namespace"] == release.inputs["namespace"]


def test_an_empty_gpu_selector_is_rejected():
    # It would put the device plugin on every node.
    with pytest.raises(ValueError, match="gpu_node_selector"):
        addons_args(gpu_node_selector={})


def test_an_empty_taint_key_is_rejected():
    with pytest.raises(ValueError, match="gpu_taint_key"):
        addons_args(gpu_taint_key="")


# --- Pinning -----------------------------------------------------------------------------------

EXPECTED_REPOSITORIES = {
    "nvidia-device-plugin": "https://nvidia.github.io/k8s-device-plugin",
    "metrics-server": "https://kubernetes-sigs.github.io/metrics-server/",
    "cluster-autoscaler": "https://kubernetes.github.io/autoscaler",
}


def test_every_chart_is_pinned_to_one_version_from_its_upstream_repository(plan):
    releases = plan.of_type(RELEASE)
    assert {r.inputs["chart"] for r in releases} == set(EXPECTED_REPOSITORIES)
    for release in releases:
        chart, version = release.inputs["chart"], release.inputs.get("version", "")
        # An exact SemVer: not empty (= latest), not a range (^, ~, >=, x, *).
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{chart} version {version!r} is not pinned"
        assert release.inputs["repositoryOpts"]["repo"] == EXPECTED_REPOSITORIES[chart]
        # Bumping a pin without vendoring that version's defaults would leave the key check
        # below testing against the wrong chart.
        assert (CHARTS / f"{chart}-{version}" / "values.yaml").is_file(), f"vendor {chart}-{version}/values.yaml"
        assert (CHARTS / f"{chart}-{version}" / "LICENSE").is_file(), f"vendor {chart}-{version}/LICENSE"


def test_the_pinned_chart_lines_are_the_intended_ones(plan):
    versions = {r.inputs["chart"]: r.inputs["version"] for r in plan.of_type(RELEASE)}
    assert re.fullmatch(r"0\.1[78]\.\d+", versions["nvidia-device-plugin"])
    assert re.fullmatch(r"3\.1[23]\.\d+", versions["metrics-server"])
    assert re.fullmatch(r"9\.\d+\.\d+", versions["cluster-autoscaler"])


# --- Values keys exist in the chart ----------------------------------------------------------

# Maps whose keys are free-form even though the chart's default is not empty: extraArgs keys are
# CA flags (an unknown flag makes the container exit at start, loudly, unlike a dropped value).
FREE_FORM = {"cluster-autoscaler": {("extraArgs",)}}


def _unknown_key_paths(values: Any, defaults: Any, free_form: set[tuple[str, ...]], path: tuple[str, ...] = ()) -> Iterator[str]:
    """Key paths of `values` that the chart's default values do not have.

    Descends only through maps the chart defines with content: an empty map/list or null
    default (nodeSelector, podAnnotations, minAvailable) and the FREE_FORM paths take any keys,
    and lists are replaced wholesale by Helm (their items are checked by the schema test).
    """
    if not isinstance(values, dict) or path in free_form:
        return
    if not isinstance(defaults, dict) or not defaults:
        return
    for key, value in values.items():
        if key not in defaults:
            yield ".".join((*path, key))
        else:
            yield from _unknown_key_paths(value, defaults[key], free_form, (*path, key))


def _chart_defaults(chart: str, version: str) -> dict[str, Any]:
    return yaml.safe_load((CHARTS / f"{chart}-{version}" / "values.yaml").read_text())


@pytest.mark.parametrize("chart", sorted(EXPECTED_REPOSITORIES))
def test_every_values_key_exists_in_the_chart_defaults(plan, chart):
    release = release_of(plan, chart)
    defaults = _chart_defaults(chart, release.inputs["version"])
    unknown = list(_unknown_key_paths(release.inputs["values"], defaults, FREE_FORM.get(chart, set())))
    assert not unknown, f"{chart} {release.inputs['version']} has no values key(s) {unknown}: Helm would ignore them"


def test_the_key_check_catches_a_misspelled_key():
    defaults = _chart_defaults("metrics-server", "3.13.1")
    values = {"replicas": 2, "podDisruptionBudget": {"enabled": True, "minAvailabe": 1}, "nodeSelecter": {}}
    assert sorted(_unknown_key_paths(values, defaults, set())) == ["nodeSelecter", "podDisruptionBudget.minAvailabe"]


# --- Pod-spec fragments and plain objects pass the strict schema ----------------------------

KUBERNETES_VERSION = "1.36"
_POD_FIELDS = ("nodeSelector", "affinity", "tolerations", "priorityClassName", "topologySpreadConstraints")


@pytest.mark.parametrize("chart", sorted(EXPECTED_REPOSITORIES))
def test_pod_scheduling_values_are_valid_pod_spec_fields(plan, chart):
    """The chart copies these values verbatim into its pod template; a typo inside them
    (e.g. `nodeSelectorTerm`) passes the key check above but fails here."""
    values = manifest_from_inputs(values_of(plan, chart))
    container: dict[str, Any] = {"name": chart, "image": "example.invalid/image:pinned"}
    if "resources" in values:
        container["resources"] = values["resources"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": chart},
        "spec": {"containers": [container], **{key: values[key] for key in _POD_FIELDS if key in values}},
    }
    validate_manifest(pod, KUBERNETES_VERSION)


def test_every_plain_kubernetes_object_passes_the_strict_schema(plan):
    plain = [r for r in plan.resources if r.package == "kubernetes" and r.type != RELEASE]
    assert plain, "expected at least the device plugin's Namespace"
    for resource in plain:
        validate_manifest(manifest_from_inputs(resource.inputs), KUBERNETES_VERSION)


# --- metrics-server ------------------------------------------------------------------------------


def test_metrics_server_survives_a_node_drain(plan):
    release = release_of(plan, "metrics-server")
    values = release.inputs["values"]
    assert release.inputs["namespace"] == "kube-system"
    assert values["replicas"] >= 2
    budget = values["podDisruptionBudget"]
    assert budget["enabled"] is True
    assert 1 <= budget["minAvailable"] < values["replicas"], "the PDB must keep one replica up yet allow a drain"
    # The spread selector must select the chart's pods, or it constrains nothing.
    selector = values["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": release.inputs["name"]}


# --- Providers and shape ----------------------------------------------------------------------


def test_children_use_the_providers_passed_in_and_build_none(plan):
    component = plan.one("mlserve:cluster:ClusterAddons")
    providers = {r.type.rsplit(":", 1)[-1]: f"{r.urn}::{r.id}" for r in plan.resources if r.type.startswith("pulumi:providers:")}
    assert set(providers) == {"aws", "kubernetes"}, "the component must not create providers"
    children = plan.children(component.urn)
    assert {r.package for r in children} == {"aws", "kubernetes"}
    for child in children:
        assert child.provider == providers[child.package], f"{child.name} does not use the {child.package} provider passed in"


# --- The schema checker itself -------------------------------------------------------------------

_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    },
}


def test_validate_manifest_accepts_a_valid_object():
    validate_manifest(_DEPLOYMENT, "1.36")


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda d: d["spec"].__setitem__("replica", d["spec"].pop("replicas")), "spec: Additional properties"),
        (lambda d: d["metadata"].__setitem__("lables", d["metadata"].pop("labels")), "metadata: Additional properties"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("imagee", "x"),
            "spec.template.spec.containers.0: Additional properties",
        ),
        (lambda d: d["spec"].__setitem__("replicas", "two"), "spec.replicas"),
    ],
    ids=["spec.replica", "metadata.lables", "container.imagee", "replicas-as-string"],
)
def test_validate_manifest_rejects_a_misspelled_or_mistyped_field(mutate, where):
    manifest = json.loads(json.dumps(_DEPLOYMENT))
    mutate(manifest)
    expected = f"Deployment 'web' is not a valid object for Kubernetes 1.36.0 (strict): at {where}"
    with pytest.raises(ManifestInvalid, match=re.escape(expected)):
        validate_manifest(manifest, "1.36")


def test_validate_manifest_refuses_what_it_cannot_check():
    with pytest.raises(ManifestInvalid, match="Couldn't find schema for kind Widget"):
        validate_manifest({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, "1.36")
    with pytest.raises(ValueError, match="no schemas for Kubernetes 1.99"):
        validate_manifest(_DEPLOYMENT, "1.99")
