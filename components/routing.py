"""Canary routing and mesh security as plain functions: the bodies of the Istio objects, built from
resolved values and tested without Pulumi. `components/mesh.py` and `components/canary_routing.py`
declare them as `CustomResource`s; tests validate them against the pinned Istio CRDs.

Istio API references (v1, Istio 1.30):
https://istio.io/v1.30/docs/reference/config/networking/virtual-service/
https://istio.io/v1.30/docs/reference/config/networking/destination-rule/
https://istio.io/v1.30/docs/reference/config/security/authorization-policy/
"""

from __future__ import annotations

from typing import Any

from components.serving_contract import CANARY_HEADER, SERVICE_NAME, SERVICE_PORT, TRACK_LABEL

ISTIO_NETWORKING = "networking.istio.io/v1"
ISTIO_SECURITY = "security.istio.io/v1"


def route_weights(canary_weight: int, *, has_canary: bool) -> dict[str, int]:
    """Per subset, the percent of requests: {"stable": 90, "canary": 10}. Without a canary all
    goes to stable and there is no canary entry. The weights always sum to 100."""
    if not 0 <= canary_weight <= 100:
        raise ValueError(f"canary_weight {canary_weight}: 0..100")
    if not has_canary:
        if canary_weight:
            raise ValueError(f"canary_weight {canary_weight} with no canary: nothing to send it to")
        return {"stable": 100}
    return {"stable": 100 - canary_weight, "canary": canary_weight}


def service_host(namespace: str) -> str:
    """The Service's cluster-local name the routes target."""
    return f"{SERVICE_NAME}.{namespace}.svc.cluster.local"


def destination_rule_spec(namespace: str, *, has_canary: bool, max_pending_requests: int,
                          max_requests_per_connection: int = 0) -> dict[str, Any]:
    """Subsets by track label, ISTIO_MUTUAL TLS, bounded connection pools and outlier detection
    (a pod answering five 5xx in a row leaves the pool for 30 s, at most half the pods at once)."""
    tracks = ("stable", "canary") if has_canary else ("stable",)
    pool: dict[str, Any] = {"http": {"http1MaxPendingRequests": max_pending_requests, "idleTimeout": "300s"}}
    if max_requests_per_connection:
        pool["http"]["maxRequestsPerConnection"] = max_requests_per_connection
    return {
        "host": service_host(namespace),
        "trafficPolicy": {
            "tls": {"mode": "ISTIO_MUTUAL"},
            "connectionPool": pool,
            "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s",
                                 "maxEjectionPercent": 50},
        },
        "subsets": [{"name": track, "labels": {TRACK_LABEL: track}} for track in tracks],
    }


def virtual_service_spec(namespace: str, *, gateway: str, hosts: list[str], weights: dict[str, int],
                         header_route: bool, mirror_percent: float, timeout_s: float) -> dict[str, Any]:
    """The routes: the QA header route first (when set), then the weighted split, with the mirror
    (when above 0) copying that share of stable's requests to the canary, answers discarded."""
    host = service_host(namespace)

    def destination(subset: str) -> dict[str, Any]:
        return {"host": host, "subset": subset, "port": {"number": SERVICE_PORT}}

    has_canary = "canary" in weights
    if (header_route or mirror_percent) and not has_canary:
        raise ValueError("a header route or a mirror needs a canary")
    routes: list[dict[str, Any]] = []
    # Retry only what never reached the server or was cut mid-flight by a terminating pod; a 503
    # from the server's own backpressure is its answer (Retry-After), not retried here.
    # https://istio.io/v1.30/docs/reference/config/networking/virtual-service/#HTTPRetry
    common = {"timeout": f"{timeout_s:g}s",
              "retries": {"attempts": 2, "retryOn": "connect-failure,refused-stream,reset"}}
    if header_route:
        routes.append({"name": "canary-header", "match": [{"headers": {CANARY_HEADER: {"exact": "always"}}}],
                       "route": [{"destination": destination("canary"), "weight": 100}], **common})
    split: dict[str, Any] = {
        "name": "weighted",
        "route": [{"destination": destination(track), "weight": weight} for track, weight in weights.items()],
        **common,
    }
    if mirror_percent:
        split["mirrors"] = [{"destination": destination("canary"), "percentage": {"value": mirror_percent}}]
    routes.append(split)
    return {"hosts": list(hosts), "gateways": [gateway], "http": routes}


def gateway_spec(*, hosts: list[str], selector: dict[str, str]) -> dict[str, Any]:
    """One plain-HTTP server on 80: TLS (when set) ends at the NLB, whose 443 listener forwards here."""
    return {"selector": dict(selector),
            "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": list(hosts)}]}


def peer_authentication_spec() -> dict[str, Any]:
    """Namespace-wide STRICT mTLS: no plaintext caller reaches a serving pod."""
    return {"mtls": {"mode": "STRICT"}}


def request_authentication_spec(*, issuer: str, jwks_uri: str) -> dict[str, Any]:
    """Tokens from this issuer are checked against its keys (a bad token is refused; whether a token
    is required at all is the AuthorizationPolicy's `requestPrincipals`)."""
    return {"jwtRules": [{"issuer": issuer, "jwksUri": jwks_uri, "forwardOriginalToken": False}]}


def authorization_policy_spec(*, ingress_principal: str, jwt_issuer: str | None,
                              loadtester_principal: str | None = None) -> dict[str, Any]:
    """ALLOW only, namespace-wide (Flagger's primary pods carry another app label than the Deployment
    the stack declares, and the namespace holds nothing but model servers): the ingress gateway on the
    server's port, every route but /metrics (with a JWT issuer, only with a valid token from it), and,
    under `rollout: automatic`, Flagger's load tester, POST /predict only (the acceptance check and the
    load test). Anything else is denied, since an ALLOW policy denies every request it does not match.

    No rule for the metrics scrapers: Prometheus and the CloudWatch agent read the sidecar's merged
    endpoint (:15020/stats/prometheus), which Istio leaves out of traffic capture, so no request of
    theirs ever reaches this policy (components/network_policies.py is what admits them). The server's
    own /metrics on its port is therefore closed to every caller through the mesh."""
    ingress_source: dict[str, Any] = {"principals": [ingress_principal]}
    if jwt_issuer is not None:
        ingress_source["requestPrincipals"] = [f"{jwt_issuer}/*"]
    port = str(SERVICE_PORT)
    rules: list[dict[str, Any]] = [
        {"from": [{"source": ingress_source}], "to": [{"operation": {"ports": [port], "notPaths": ["/metrics"]}}]}]
    if loadtester_principal is not None:
        rules.append({"from": [{"source": {"principals": [loadtester_principal]}}],
                      "to": [{"operation": {"ports": [port], "methods": ["POST"], "paths": ["/predict"]}}]})
    return {"action": "ALLOW", "rules": rules}


def principal(namespace: str, service_account: str) -> str:
    """The SPIFFE-style identity Istio gives a service account's pods (trust domain cluster.local)."""
    return f"cluster.local/ns/{namespace}/sa/{service_account}"

