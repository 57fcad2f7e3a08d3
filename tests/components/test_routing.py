"""Canary routing as pure functions and as declared objects: weights, the QA header route, the
mirror, subsets only for Deployments that exist, all valid against the pinned Istio CRDs."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as kubernetes
import pytest

from components import routing
from components.canary_routing import CanaryRouting, CanaryRoutingArgs
from components.serving_contract import CANARY_HEADER, TRACK_LABEL
from tests.istio_schema import validate_istio
from tests.k8s_schema import manifest_from_inputs

NS = "mlserve-serving"


@pytest.mark.parametrize("weight", range(0, 101))
def test_weights_always_sum_to_100(weight):
    weights = routing.route_weights(weight, has_canary=True)
    assert weights == {"stable": 100 - weight, "canary": weight} and sum(weights.values()) == 100


def test_no_canary_means_everything_to_stable_and_weights_out_of_range_are_refused():
    assert routing.route_weights(0, has_canary=False) == {"stable": 100}
    for weight, has_canary in ((101, True), (-1, True), (10, False)):
        with pytest.raises(ValueError, match="canary_weight"):
            routing.route_weights(weight, has_canary=has_canary)


def _vs(**overrides):
    values = dict(gateway="istio-ingress/mlserve-gateway", hosts=["*"], weights={"stable": 90, "canary": 10},
                  header_route=False, mirror_percent=0, timeout_s=10)
    values.update(overrides)
    return routing.virtual_service_spec(NS, **values)


def test_the_header_route_and_the_mirror_appear_only_when_set():
    plain = _vs()
    assert [r["name"] for r in plain["http"]] == ["weighted"] and "mirrors" not in plain["http"][0]
    qa = _vs(header_route=True, mirror_percent=5)
    header, weighted = qa["http"]
    assert header["match"] == [{"headers": {CANARY_HEADER: {"exact": "always"}}}]
    assert [d["destination"]["subset"] for d in header["route"]] == ["canary"]
    assert weighted["mirrors"] == [{"destination": {"host": f"model-server.{NS}.svc.cluster.local", "subset": "canary",
                                                    "port": {"number": 8080}}, "percentage": {"value": 5}}]
    with pytest.raises(ValueError, match="needs a canary"):
        _vs(weights={"stable": 100}, header_route=True)


def _build(run_pulumi, **overrides):
    def program():
        CanaryRouting("routing", CanaryRoutingArgs(namespace=NS, gateway="istio-ingress/mlserve-gateway", **overrides),
                      opts=pulumi.ResourceOptions(providers=[kubernetes.Provider("k8s", kubeconfig="{}")]))

    plan = run_pulumi(program)
    return (plan.one("kubernetes:networking.istio.io/v1:VirtualService"),
            plan.one("kubernetes:networking.istio.io/v1:DestinationRule"))


def test_without_a_canary_there_is_no_canary_subset_and_all_traffic_is_stable(run_pulumi):
    vs, dr = _build(run_pulumi)
    assert dr.urn in vs.dependencies, "a subset exists before a route names it"
    assert [s["name"] for s in dr.inputs["spec"]["subsets"]] == ["stable"]
    [route] = vs.inputs["spec"]["http"]
    assert [(d["destination"]["subset"], d["weight"]) for d in route["route"]] == [("stable", 100)]


def test_a_canary_gets_its_subset_weight_header_route_and_mirror(run_pulumi):
    vs, dr = _build(run_pulumi, has_canary=True, canary_weight=10, header_route=True, mirror_percent=2.5)
    assert {s["name"]: s["labels"] for s in dr.inputs["spec"]["subsets"]} == {
        "stable": {TRACK_LABEL: "stable"}, "canary": {TRACK_LABEL: "canary"}}
    header, weighted = vs.inputs["spec"]["http"]
    assert {d["destination"]["subset"]: d["weight"] for d in weighted["route"]} == {"stable": 90, "canary": 10}
    assert weighted["mirrors"][0]["percentage"]["value"] == 2.5
    assert vs.inputs["spec"]["gateways"] == ["istio-ingress/mlserve-gateway"]
    traffic = dr.inputs["spec"]["trafficPolicy"]
    assert traffic["outlierDetection"]["consecutive5xxErrors"] == 5 and traffic["connectionPool"]["http"]["http1MaxPendingRequests"] == 1024
    for resource in (vs, dr):
        validate_istio(manifest_from_inputs(resource.inputs))


def test_the_crd_check_catches_a_misspelled_field(run_pulumi):
    vs, _ = _build(run_pulumi, has_canary=True, canary_weight=10)
    manifest = manifest_from_inputs(vs.inputs)
    manifest["spec"]["http"][0]["route"][0]["wieght"] = manifest["spec"]["http"][0]["route"][0].pop("weight")
    with pytest.raises(AssertionError, match="'wieght' was unexpected"):
        validate_istio(manifest)


@pytest.mark.parametrize("overrides, message", [
    ({"canary_weight": 10}, "canary_weight 10 with no canary"),
    ({"header_route": True}, "need a canary"),
    ({"mirror_percent": 5.0}, "need a canary"),
    ({"has_canary": True, "canary_weight": 101}, "0..100"),
])
def test_args_refuse_routing_to_a_canary_that_does_not_exist(overrides, message):
    with pytest.raises(ValueError, match=message):
        CanaryRoutingArgs(namespace=NS, gateway="g/x", **overrides)
