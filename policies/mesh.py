"""Istio rules: STRICT mTLS in the serving namespace, VirtualService weights that add up."""

from __future__ import annotations

from components import serving_contract
from policies.rules import as_list, get, resource_rule, stack_rule

PEER_AUTHENTICATIONS = ("kubernetes:security.istio.io/v1:PeerAuthentication",
                        "kubernetes:security.istio.io/v1beta1:PeerAuthentication")
VIRTUAL_SERVICES = ("kubernetes:networking.istio.io/v1:VirtualService",
                    "kubernetes:networking.istio.io/v1beta1:VirtualService")
NAMESPACE = "kubernetes:core/v1:Namespace"
# A PeerAuthentication without selector in Istio's root namespace applies mesh-wide:
# https://istio.io/latest/docs/reference/config/security/peer_authentication/
ROOT_NAMESPACE = "istio-system"


def _strict_mtls(args):
    serving = serving_contract.SERVING_NAMESPACE
    namespaces = [r for r in args.resources if r.resource_type == NAMESPACE and get(r.props, "metadata.name") == serving]
    if not namespaces:
        return
    policies = [r for r in args.resources if r.resource_type in PEER_AUTHENTICATIONS
                and get(r.props, "metadata.namespace") == serving]
    mesh_wide = [r for r in args.resources if r.resource_type in PEER_AUTHENTICATIONS
                 and get(r.props, "metadata.namespace") == ROOT_NAMESPACE and not get(r.props, "spec.selector")]
    namespace_wide = [p for p in policies + mesh_wide if not get(p.props, "spec.selector")]
    if not any(get(p.props, "spec.mtls.mode") == "STRICT" for p in namespace_wide):
        yield (f"namespace {serving} has no namespace-wide PeerAuthentication with mtls.mode STRICT: "
               "declare one (no selector)"), namespaces[0].urn
    for policy in policies:
        modes = [get(policy.props, "spec.mtls.mode")] + [
            get(port, "mode") for port in (get(policy.props, "spec.portLevelMtls", {}) or {}).values()]
        weak = [m for m in modes if m in ("PERMISSIVE", "DISABLE")]
        if weak:
            yield f"PeerAuthentication {policy.name} sets {weak} in {serving}: use STRICT", policy.urn


def _weights(props, _args):
    for index, route in enumerate(as_list(get(props, "spec.http"))):
        destinations = as_list(get(route, "route"))
        weights = [get(d, "weight") for d in destinations]
        if len(destinations) <= 1 and all(w is None for w in weights):
            continue  # one destination without a weight takes all the traffic
        if any(w is None for w in weights):
            yield f"http[{index}] has {len(destinations)} destinations and some without a weight: give each a weight"
            continue
        total = sum(float(w) for w in weights)
        if total != 100:
            yield f"http[{index}] route weights {[int(float(w)) for w in weights]} sum to {total:g}: make them sum to 100"


RULES = [
    stack_rule("mesh-strict-mtls",
               "The serving namespace enforces STRICT mutual TLS (Istio security best practices; EKS best practices: encryption in transit).",
               _strict_mtls),
    resource_rule("virtualservice-weights-sum-100",
                  "VirtualService route weights add up to 100 (Istio VirtualService reference: HTTPRouteDestination.weight).",
                  VIRTUAL_SERVICES, _weights),
]
