"""Istio rules: STRICT mTLS in the serving namespace, VirtualService weights that add up, no ALLOW
policy that admits anyone, no plaintext listener behind an internet-facing load balancer."""

from __future__ import annotations

from components import serving_contract
from policies.rules import as_list, get, resource_rule, stack_rule

PEER_AUTHENTICATIONS = ("kubernetes:security.istio.io/v1:PeerAuthentication",
                        "kubernetes:security.istio.io/v1beta1:PeerAuthentication")
VIRTUAL_SERVICES = ("kubernetes:networking.istio.io/v1:VirtualService",
                    "kubernetes:networking.istio.io/v1beta1:VirtualService")
NAMESPACE = "kubernetes:core/v1:Namespace"
AUTHORIZATION_POLICIES = ("kubernetes:security.istio.io/v1:AuthorizationPolicy",
                          "kubernetes:security.istio.io/v1beta1:AuthorizationPolicy")
GATEWAYS = ("kubernetes:networking.istio.io/v1:Gateway", "kubernetes:networking.istio.io/v1beta1:Gateway",
            "kubernetes:networking.istio.io/v1alpha3:Gateway")
SERVICE = "kubernetes:core/v1:Service"
RELEASE = "kubernetes:helm.sh/v3:Release"
# Istio's gateway chart: its pods carry `app: <release>` and `istio: <release without "istio-">` plus
# values.labels, and its Service defaults to a LoadBalancer on 15021, 80 and 443 (tests/data/charts/gateway-*/values.yaml).
GATEWAY_CHART = "gateway"
GATEWAY_CHART_PORTS = ({"name": "status-port", "port": 15021}, {"name": "http2", "port": 80}, {"name": "https", "port": 443})
PLAINTEXT = {"HTTP", "HTTP2", "GRPC", "TCP", "MONGO"}
# AWS Load Balancer Controller and in-tree service annotations:
# https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/
_LB = "service.beta.kubernetes.io/aws-load-balancer-"
# Authorization sources and operations: a field narrows when it names something other than "*".
_SOURCE_FIELDS = ("principals", "requestPrincipals", "namespaces", "ipBlocks", "remoteIpBlocks")
_OPERATION_FIELDS = ("hosts", "ports", "methods", "paths")
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
                 and get(r.props, "metadata.namespace") == ROOT_NAMESPACE]
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


def _narrows(block, fields) -> bool:
    return any(any(str(v) != "*" for v in as_list(get(block, f))) for f in fields)


def _admits_anyone(rule) -> bool:
    """An authorization rule that matches any caller on any operation: no `when`, and some source (or
    none listed) and some operation (or none listed) that names nothing but '*'."""
    if as_list(get(rule, "when")):
        return False
    sources = [get(f, "source") or {} for f in as_list(get(rule, "from"))]
    operations = [get(t, "operation") or {} for t in as_list(get(rule, "to"))]
    open_source = not sources or any(not _narrows(s, _SOURCE_FIELDS) for s in sources)
    open_operation = not operations or any(not _narrows(o, _OPERATION_FIELDS) for o in operations)
    return open_source and open_operation


def _allow_not_all(props, _args):
    if (get(props, "spec.action") or "ALLOW") != "ALLOW":
        return
    for index, rule in enumerate(as_list(get(props, "spec.rules"))):
        if _admits_anyone(rule):
            yield (f"spec.rules[{index}] of an ALLOW policy admits any caller on any operation: name the source "
                   "principals or namespaces and the ports/paths it serves")


def _load_balancers(resources):
    """(resource, pod labels, annotations, load balancer class, ports) of each LoadBalancer Service:
    declared ones and those Istio's gateway chart renders from a Helm release's values."""
    for r in resources:
        if r.resource_type == SERVICE and get(r.props, "spec.type") == "LoadBalancer":
            yield (r, get(r.props, "spec.selector") or {}, get(r.props, "metadata.annotations") or {},
                   get(r.props, "spec.loadBalancerClass"), as_list(get(r.props, "spec.ports")))
        elif r.resource_type == RELEASE and get(r.props, "chart") == GATEWAY_CHART:
            values = get(r.props, "values") or {}
            if (get(values, "service.type") or "LoadBalancer") != "LoadBalancer":
                continue
            name = str(get(r.props, "name") or r.name)
            labels = {"app": name, "istio": name.removeprefix("istio-"), **(get(values, "labels") or {})}
            yield (r, labels, get(values, "service.annotations") or {}, get(values, "service.loadBalancerClass"),
                   as_list(get(values, "service.ports")) or list(GATEWAY_CHART_PORTS))


def internet_facing(annotations, load_balancer_class=None) -> bool:
    """The AWS Load Balancer Controller (type external / nlb-ip, or its load balancer class) defaults
    to internal; the in-tree controller a Service otherwise falls to makes an internet-facing load
    balancer unless told "internal"."""
    scheme = annotations.get(f"{_LB}scheme")
    if scheme is not None:
        return scheme == "internet-facing"
    if annotations.get(f"{_LB}type") in ("external", "nlb-ip") or load_balancer_class == "service.k8s.aws/nlb":
        return False
    return str(annotations.get(f"{_LB}internal", "false")).lower() not in ("true", "0.0.0.0/0")


def _tls_at_lb(annotations, port) -> bool:
    """Whether the load balancer's listener for `port` terminates TLS (ssl-cert, on the ssl-ports named)."""
    if not annotations.get(f"{_LB}ssl-cert"):
        return False
    listed = [p.strip() for p in str(annotations.get(f"{_LB}ssl-ports", "*")).split(",")]
    return "*" in listed or str(get(port, "name")) in listed or str(int(float(get(port, "port", 0)))) in listed


def _no_plaintext_internet(args):
    gateways = [r for r in args.resources if r.resource_type in GATEWAYS]
    for lb, labels, annotations, load_balancer_class, ports in _load_balancers(args.resources):
        if not internet_facing(annotations, load_balancer_class):
            continue
        for gateway in gateways:
            # A Gateway without a selector applies to every gateway workload.
            selector = get(gateway.props, "spec.selector") or {}
            if any(labels.get(k) != v for k, v in selector.items()):
                continue
            for port in ports:
                if _tls_at_lb(annotations, port):
                    continue
                number = float(get(port, "port", 0))
                for server in as_list(get(gateway.props, "spec.servers")):
                    protocol = str(get(server, "port.protocol", "")).upper()
                    if float(get(server, "port.number", -1)) == number and protocol in PLAINTEXT \
                            and get(server, "tls.httpsRedirect") is not True:
                        yield (f"Gateway {get(gateway.props, 'metadata.name')} serves {protocol} on port {int(number)} "
                               f"through internet-facing load balancer {lb.name} without TLS: terminate TLS at the "
                               "load balancer (ssl-cert, ssl-ports) or the Gateway (HTTPS), or only redirect "
                               "(tls.httpsRedirect)"), gateway.urn


RULES = [
    stack_rule("mesh-strict-mtls",
               "The serving namespace enforces STRICT mutual TLS (Istio security best practices; EKS best practices: encryption in transit).",
               _strict_mtls),
    resource_rule("virtualservice-weights-sum-100",
                  "VirtualService route weights add up to 100 (Istio VirtualService reference: HTTPRouteDestination.weight).",
                  VIRTUAL_SERVICES, _weights),
    resource_rule("istio-allow-policy-names-callers",
                  "Istio ALLOW AuthorizationPolicies never admit any caller on any operation (Istio security best "
                  "practices: safer authorization policy patterns).",
                  AUTHORIZATION_POLICIES, _allow_not_all),
    stack_rule("istio-gateway-no-plaintext-internet",
               "No Istio Gateway serves plaintext through an internet-facing load balancer (Istio security best "
               "practices; EKS best practices: encryption in transit).",
               _no_plaintext_internet),
]
