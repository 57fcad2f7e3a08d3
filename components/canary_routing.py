"""Canary routing: the DestinationRule (subsets by track, connection limits, outlier detection) and
the VirtualService (QA header route, weighted split, optional mirror) for the model server's Service,
attached to the mesh's Gateway. The bodies are plain functions in `components/routing.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as kubernetes

from components import routing
from components.serving_contract import SERVICE_NAME


@dataclass(frozen=True, kw_only=True)
class CanaryRoutingArgs:
    """Resolved routing decisions for one stack."""

    namespace: str
    """The serving namespace (where the Service and these objects live)."""
    gateway: str
    """"<namespace>/<name>" of the Istio Gateway (components/mesh.py)."""
    hosts: tuple[str, ...] = ("*",)
    """Default ("*",). Host names routed; the Gateway's."""
    canary_weight: int = 0
    """Default 0. Percent of requests to the canary (0..100); needs `has_canary` above 0."""
    has_canary: bool = False
    """Default False. Whether a canary Deployment exists (its subset is declared only then)."""
    header_route: bool = False
    """Default False. `x-mlserve-canary: always` goes to the canary; needs `has_canary`."""
    mirror_percent: float = 0
    """Default 0. Percent of stable's requests copied to the canary; needs `has_canary`."""
    timeout_s: float = 10.0
    """Default 10. Route timeout: the server's request timeout (it answers 504 itself first)."""
    max_pending_requests: int = 1024
    """Default 1024. Requests queued per sidecar before Envoy answers 503 (overload shedding)."""

    def __post_init__(self) -> None:
        routing.route_weights(self.canary_weight, has_canary=self.has_canary)  # raises naming the weight
        if (self.header_route or self.mirror_percent) and not self.has_canary:
            raise ValueError("header_route and mirror_percent need a canary")
        if not 0 <= self.mirror_percent <= 100:
            raise ValueError(f"mirror_percent {self.mirror_percent}: 0..100")


class CanaryRouting(pulumi.ComponentResource):
    """The DestinationRule and VirtualService splitting the model server's traffic by track."""

    weights: dict[str, int]
    """Per subset, the percent of requests (sums to 100)."""

    def __init__(self, name: str, args: CanaryRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:mesh:CanaryRouting", name, None, opts)
        self.weights = routing.route_weights(args.canary_weight, has_canary=args.has_canary)

        def istio(role: str, kind: str, spec: dict, depends_on=()) -> kubernetes.apiextensions.CustomResource:
            return kubernetes.apiextensions.CustomResource(
                f"{name}-{role}", api_version=routing.ISTIO_NETWORKING, kind=kind,
                metadata=kubernetes.meta.v1.ObjectMetaArgs(name=SERVICE_NAME, namespace=args.namespace,
                                                           labels={"app.kubernetes.io/part-of": "mlserve"}),
                spec=spec, opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )

        # The VirtualService waits for the DestinationRule, so a new canary subset exists before a
        # route names it (Istio's "make before break"). Removing a canary is the reverse order; the
        # docs/operations.md's promotion sets the weight to 0 in one `up` before removing the canary in the next.
        # https://istio.io/latest/docs/ops/best-practices/traffic-management/#avoid-503-errors-while-reconfiguring-service-routes
        rule = istio("destination-rule", "DestinationRule", routing.destination_rule_spec(
            args.namespace, has_canary=args.has_canary, max_pending_requests=args.max_pending_requests))
        istio("virtual-service", "VirtualService", routing.virtual_service_spec(
            args.namespace, gateway=args.gateway, hosts=list(args.hosts), weights=self.weights,
            header_route=args.header_route, mirror_percent=args.mirror_percent, timeout_s=args.timeout_s),
            depends_on=[rule])
        self.register_outputs({"weights": self.weights})
