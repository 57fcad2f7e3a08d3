"""What the ingress gateway exposes and when the mesh's Services are created: only 443 faces the
internet (the NLB health-checks 15021 on the pod IPs, never as a listener), and every Istio release
waits for the AWS Load Balancer Controller, whose webhook refuses Services while it starts."""

from __future__ import annotations

import pytest

from components import mesh_charts
from tests.components.addons_support import RELEASE
from tests.components.test_mesh import CERT, _release, build

LBC = "service.beta.kubernetes.io/aws-load-balancer-"


def _ports(values) -> list[tuple[str, int, int]]:
    return [(p["name"], int(p["port"]), int(p["targetPort"])) for p in values["service"]["ports"]]


@pytest.mark.parametrize("scheme,certificate,listeners", [
    ("internet-facing", CERT, [("https", 443, 80)]),
    ("internal", CERT, [("http2", 80, 80), ("https", 443, 80)]),
    ("internal", None, [("http2", 80, 80)]),
])
def test_listeners_per_scheme_and_certificate(scheme, certificate, listeners):
    values = mesh_charts.gateway_values(scheme=scheme, certificate_arn=certificate, replicas=2)
    assert _ports(values) == listeners
    annotations = values["service"]["annotations"]
    # The status port is the NLB's health check on the pods (IP targets, inside the VPC), not a listener.
    assert (annotations[f"{LBC}healthcheck-port"], annotations[f"{LBC}healthcheck-path"],
            annotations[f"{LBC}healthcheck-protocol"]) == ("15021", "/healthz/ready", "http")
    assert annotations[f"{LBC}nlb-target-type"] == "ip"


def test_an_internet_facing_gateway_has_no_plaintext_listener(run_pulumi):
    plan = build(run_pulumi, ingress_scheme="internet-facing", certificate_arn=CERT)
    service = _release(plan, "gateway").inputs["values"]["service"]
    assert [int(p["port"]) for p in service["ports"]] == [443]
    assert service["annotations"][f"{LBC}ssl-ports"] == "https"
    with pytest.raises(ValueError, match="no plaintext listener on the internet"):
        mesh_charts.gateway_values(scheme="internet-facing", certificate_arn=None, replicas=2)


def test_every_istio_release_waits_for_the_load_balancer_controller(run_pulumi):
    plan = build(run_pulumi)
    controller = _release(plan, "aws-load-balancer-controller")
    others = [r for r in plan.of_type(RELEASE) if r is not controller]
    assert {r.inputs["chart"] for r in others} == {"base", "cni", "istiod", "gateway"}
    assert [r.inputs["chart"] for r in others if controller.urn not in r.dependencies] == []
