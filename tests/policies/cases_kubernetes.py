"""Boundary cases of the Kubernetes and Istio rules on the compliant stack (same shapes as cases_aws.py)."""

from __future__ import annotations

from tests.policies.conftest import DELETE

POD = "spec.template.spec"
SERVER = f"{POD}.containers.0"
_LB = "service.beta.kubernetes.io/aws-load-balancer-"
ANNOTATIONS = "values.service.annotations"  # keys hold dots: tests replace the whole mapping
COMPLIANT_ANNOTATIONS = {f"{_LB}type": "external", f"{_LB}nlb-target-type": "ip", f"{_LB}scheme": "internet-facing",
                         f"{_LB}ssl-cert": "arn:aws:acm:us-west-2:123456789012:certificate/example", f"{_LB}ssl-ports": "https"}


def annotations(**changes: str | None) -> dict:
    """The compliant gateway's annotations with `ssl_cert="..."`-style changes (None removes one)."""
    result = dict(COMPLIANT_ANNOTATIONS)
    for key, value in changes.items():
        name = _LB + key.replace("_", "-")
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


PLAIN_PORT = {"name": "http2", "port": 80.0, "protocol": "TCP", "targetPort": 80.0}
PLAIN_443 = {"name": "http", "port": 443.0, "protocol": "TCP", "targetPort": 80.0}
PLAIN_SERVER = {"hosts": ["*"], "port": {"number": 80.0, "name": "http", "protocol": "HTTP"}}
TLS_SERVER = {"hosts": ["*"], "port": {"number": 443.0, "name": "https-at-nlb", "protocol": "HTTP"}}
GATEWAY_PORTS = "values.service.ports"
ANYONE = [{"from": [{"source": {"principals": ["*"]}}]}]
INIT_CONTAINER = {"name": "fetch", "image": "busybox@sha256:" + "b" * 64,
                  "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}},
                  "securityContext": {"allowPrivilegeEscalation": True, "readOnlyRootFilesystem": True,
                                      "capabilities": {"drop": ["ALL"]}}}

VIOLATIONS = [
    # --- workloads
    ("k8s-requests-and-limits", "stable", {f"{SERVER}.resources.limits": {}}, None, "container 'server': set resources.limits.memory"),
    ("k8s-requests-and-limits", "stable", {f"{SERVER}.resources.requests.cpu": DELETE}, None, "set resources.requests.cpu"),
    ("k8s-requests-and-limits", "stable", {f"{SERVER}.resources.requests.memory": ""}, None, "set resources.requests.memory"),
    ("k8s-liveness-readiness-probes", "stable", {f"{SERVER}.readinessProbe": DELETE}, None, "add readinessProbe"),
    ("k8s-liveness-readiness-probes", "stable", {f"{SERVER}.livenessProbe": DELETE}, None, "add livenessProbe"),
    ("pss-run-as-non-root", "stable", {f"{POD}.securityContext.runAsNonRoot": DELETE}, None, "runAsNonRoot = true"),
    ("pss-run-as-non-root", "stable", {f"{SERVER}.securityContext.runAsNonRoot": False}, None, "runAsNonRoot = true"),
    ("pss-run-as-non-root", "stable", {f"{POD}.securityContext.runAsUser": 0.0}, None, "runAsUser is 0: run as a non-zero UID"),
    ("pss-run-as-non-root", "stable", {f"{SERVER}.securityContext.runAsUser": 0.0}, None, "runAsUser is 0: run as a non-zero UID"),
    ("pss-run-as-non-root", "stable", {f"{POD}.securityContext.runAsUser": 9999.0}, None, "runAsUser is 9999: use a UID of at least 10000"),
    ("k8s-read-only-root-filesystem", "stable", {f"{SERVER}.securityContext.readOnlyRootFilesystem": False}, None,
     "readOnlyRootFilesystem = true"),
    ("k8s-read-only-root-filesystem", "stable", {f"{SERVER}.securityContext.readOnlyRootFilesystem": DELETE}, None,
     "readOnlyRootFilesystem = true"),
    ("pss-no-privilege-escalation", "stable", {f"{SERVER}.securityContext.allowPrivilegeEscalation": True}, None,
     "allowPrivilegeEscalation = false"),
    ("pss-no-privilege-escalation", "stable", {f"{SERVER}.securityContext.allowPrivilegeEscalation": DELETE}, None,
     "allowPrivilegeEscalation = false"),
    ("pss-no-privilege-escalation", "stable", {f"{SERVER}.securityContext.privileged": True}, None, "remove securityContext.privileged"),
    ("pss-capabilities-dropped", "stable", {f"{SERVER}.securityContext.capabilities": {"add": ["NET_ADMIN"]}}, None,
     "capabilities.drop = [ALL]"),
    ("pss-capabilities-dropped", "stable", {f"{SERVER}.securityContext.capabilities.add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}, None,
     "remove capabilities.add ['SYS_ADMIN']"),
    ("pss-seccomp-runtime-default", "stable", {f"{POD}.securityContext.seccompProfile.type": "Unconfined"}, None,
     "seccompProfile.type = RuntimeDefault"),
    ("pss-seccomp-runtime-default", "stable", {f"{POD}.securityContext.seccompProfile": DELETE}, None, "seccompProfile.type = RuntimeDefault"),
    ("pss-seccomp-runtime-default", "stable", {f"{SERVER}.securityContext.seccompProfile": {"type": "Unconfined"}}, None,
     "seccompProfile.type = RuntimeDefault"),
    *[("pss-no-host-namespaces", "stable", {f"{POD}.{key}": True}, None, f"remove ['{key}']") for key in ("hostNetwork", "hostPID", "hostIPC")],
    ("pss-no-host-path-or-port", "stable", {f"{POD}.volumes.0": {"name": "tmp", "hostPath": {"path": "/var/run/docker.sock"}}}, None,
     "remove the hostPath volumes ['/var/run/docker.sock']"),
    ("pss-no-host-path-or-port", "stable", {f"{SERVER}.ports.0.hostPort": 8080.0}, None, "remove hostPort [8080]"),
    ("pss-no-host-path-or-port", "stable", {f"{POD}.initContainers": [{**INIT_CONTAINER, "ports": [{"containerPort": 9.0, "hostPort": 9.0}]}]},
     None, "container 'fetch': remove hostPort [9]"),
    ("k8s-no-service-account-token", "stable", {f"{POD}.automountServiceAccountToken": DELETE}, None, "automountServiceAccountToken = false"),
    ("k8s-no-service-account-token", "stable", {f"{POD}.automountServiceAccountToken": True}, None, "automountServiceAccountToken = false"),
    ("k8s-no-service-account-token", "server-sa", {"automountServiceAccountToken": DELETE}, None, "on the ServiceAccount"),
    ("k8s-no-service-account-token", "stable", {f"{POD}.automountServiceAccountToken": True},
     {"exemptions": {"mlserve-serving/model-server-canary": "another workload calls the API"}}, "automountServiceAccountToken = false"),
    ("k8s-secrets-not-in-env", "stable", {f"{SERVER}.env.0": {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "t"}}}},
     None, "secrets ['TOKEN'] reach the environment"),
    ("k8s-secrets-not-in-env", "stable", {f"{SERVER}.envFrom": [{"secretRef": {"name": "api"}}]}, None, "secrets ['api']"),
    ("k8s-image-by-digest", "stable", {f"{SERVER}.image": "mlserve/serving-app:latest"}, None, "is not pinned by digest"),
    # Init containers run with the pod's identity too: every container rule but the probes reads them.
    ("pss-no-privilege-escalation", "stable", {f"{POD}.initContainers": [INIT_CONTAINER]}, None,
     "container 'fetch': set securityContext.allowPrivilegeEscalation = false"),
    ("k8s-not-default-namespace", "stable", {"metadata.namespace": DELETE}, None, "not default"),
    ("k8s-not-default-namespace", "server-sa", {"metadata.namespace": "default"}, None, "not default"),
    ("serving-min-replicas", "stable", {"spec.replicas": 1.0}, {"minServingReplicas": 2}, "spec.replicas is 1: run at least 2"),
    ("serving-min-replicas", "stable-hpa", {"spec.minReplicas": DELETE}, {"minServingReplicas": 2}, "spec.minReplicas is 1"),
    ("serving-min-replicas", "stable-hpa", {}, {"minServingReplicas": 3}, "spec.minReplicas is 2: run at least 3"),
    # --- RBAC
    *[("k8s-rbac-no-wildcards", "server-role", {f"rules.0.{key}": ["*"]}, None, f"has '*' in ['{key}']")
      for key in ("apiGroups", "resources", "verbs")],
    ("k8s-rbac-no-escalation", "server-role", {"rules.0.verbs": ["get", "bind"]}, None, "grants ['bind']"),
    ("k8s-rbac-no-escalation", "server-role", {"rules.0.resources": ["secrets"], "rules.0.resourceNames": DELETE}, None,
     "reads every secret (['get', 'watch'])"),
    ("k8s-rbac-no-escalation", "server-role", {"rules.0.resources": ["pods/exec"], "rules.0.verbs": ["create"]}, None,
     "grants ['create'] on pods/exec"),
    ("k8s-rbac-no-escalation", "server-role", {"rules.0.resources": ["mutatingwebhookconfigurations"], "rules.0.verbs": ["patch"]},
     None, "on mutatingwebhookconfigurations"),
    ("k8s-rbac-named-subjects", "server-binding", {"roleRef.name": "cluster-admin"}, None, "binds cluster-admin"),
    ("k8s-rbac-named-subjects", "server-binding", {"subjects.0.name": "default"}, None, "binds the 'default' service account"),
    ("k8s-rbac-named-subjects", "server-binding", {"subjects.0": {"kind": "Group", "name": "system:authenticated"}}, None,
     "binds Group system:authenticated"),
    # --- namespaces
    ("k8s-namespace-network-policy", "serving-netpol", {"metadata.namespace": "other"}, None,
     "namespace mlserve-serving has no NetworkPolicy", "serving-ns"),
    ("k8s-namespace-network-policy", "serving-netpol", {"metadata.namespace": "other"}, {"exemptions": {"other": "a reason long enough"}},
     "namespace mlserve-serving has no NetworkPolicy", "serving-ns"),
    # --- Istio
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route.1.weight": 20.0}, None, "[90, 20] sum to 110"),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route.1.weight": 5.0}, None, "[90, 5] sum to 95"),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route.1.weight": DELETE}, None, "some without a weight"),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route": [{"destination": {"host": "m"}, "weight": 90.0}]}, None,
     "[90] sum to 90"),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route.0.weight": DELETE, "spec.http.0.route.1.weight": DELETE}, None,
     "2 destinations and some without a weight"),
    ("istio-allow-policy-names-callers", "callers", {"spec.rules": [{}]}, None, "spec.rules[0] of an ALLOW policy admits any caller"),
    ("istio-allow-policy-names-callers", "callers", {"spec.rules": ANYONE}, None, "admits any caller"),
    ("istio-allow-policy-names-callers", "callers", {"spec.action": DELETE, "spec.rules": ANYONE}, None, "admits any caller"),
    ("istio-allow-policy-names-callers", "callers", {"spec.rules.0.from.0.source": {"notPrincipals": ["cluster.local/ns/x/sa/y"]},
                                                    "spec.rules.0.to": DELETE}, None,
     "admits any caller"),
    ("istio-allow-policy-names-callers", "callers", {"spec.rules.0.to.0.operation": {"methods": ["*"]}, "spec.rules.0.from": DELETE}, None,
     "admits any caller"),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {f"{GATEWAY_PORTS}.1": PLAIN_443}, None,
     "Gateway mlserve-gateway serves HTTP on port 443 through internet-facing load balancer ingress-gateway without TLS", "gateway"),
    ("istio-gateway-no-plaintext-internet", "gateway", {"spec.servers.0.port.number": 15021.0}, None, "serves HTTP on port 15021",
     "gateway"),
    ("istio-gateway-no-plaintext-internet", "gateway", {"spec.servers.0.port.protocol": "TCP", "spec.servers.0.port.number": 15021.0},
     None, "serves TCP on port 15021", "gateway"),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {ANNOTATIONS: annotations(ssl_cert=None)}, None,
     "serves HTTP on port 443", "gateway"),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {ANNOTATIONS: annotations(ssl_ports="8443")}, None,
     "serves HTTP on port 443", "gateway"),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {ANNOTATIONS: annotations(scheme=None, type=None), f"{GATEWAY_PORTS}.1": PLAIN_443},
     None,
     "serves HTTP on port 443", "gateway"),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {ANNOTATIONS: annotations(scheme=None, type=None, internal="false"),
                                                             f"{GATEWAY_PORTS}.1": PLAIN_443}, None,
     "serves HTTP on port 443", "gateway"),
    # Without service.ports the chart's own (15021, 80, 443) face the load balancer.
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {GATEWAY_PORTS: DELETE, ANNOTATIONS: annotations(ssl_ports="80")}, None,
     "serves HTTP on port 443", "gateway"),
    ("istio-gateway-no-plaintext-internet", "gateway", {"spec.selector": DELETE, "spec.servers.0.port.number": 15021.0}, None,
     "serves HTTP on port 15021", "gateway"),
    ("istio-gateway-no-plaintext-internet", "gateway", {"spec.selector": {"app": "istio-ingress"}, "spec.servers.0.port.number": 15021.0},
     None, "serves HTTP on port 15021", "gateway"),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {"values.service.type": DELETE, f"{GATEWAY_PORTS}.1": PLAIN_443}, None,
     "serves HTTP on port 443", "gateway"),
    # Without values.labels the chart labels its pods istio: <release name without "istio-">.
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {"values.labels": DELETE, f"{GATEWAY_PORTS}.1": PLAIN_443}, None,
     "serves HTTP on port 443", "gateway"),
]

PASSES = [
    ("pss-run-as-non-root", "stable", {f"{POD}.securityContext.runAsUser": DELETE}, None),
    ("pss-run-as-non-root", "stable", {f"{POD}.securityContext.runAsUser": 10000.0}, None),
    ("k8s-liveness-readiness-probes", "stable", {f"{POD}.initContainers": [{**INIT_CONTAINER, "securityContext": {}}]}, None),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route": [{"destination": {"host": "m"}}]}, None),
    ("virtualservice-weights-sum-100", "routes", {"spec.http.0.route": [{"destination": {"host": "m"}, "weight": 100.0}]}, None),
    ("pss-run-as-non-root", "stable", {f"{POD}.securityContext.runAsNonRoot": DELETE, f"{SERVER}.securityContext.runAsNonRoot": True}, None),
    ("pss-seccomp-runtime-default", "stable",
     {f"{POD}.securityContext.seccompProfile": DELETE, f"{SERVER}.securityContext.seccompProfile": {"type": "Localhost"}}, None),
    ("pss-capabilities-dropped", "stable", {f"{SERVER}.securityContext.capabilities.add": ["NET_BIND_SERVICE"]}, None),
    ("k8s-no-service-account-token", "stable", {f"{POD}.automountServiceAccountToken": True},
     {"exemptions": {"mlserve-serving/model-server-stable": "this test's workload calls the API"}}),
    ("serving-min-replicas", "stable", {"spec.replicas": DELETE}, {"minServingReplicas": 2}),
    ("k8s-rbac-no-escalation", "server-role", {"rules.0.resources": ["secrets"]}, None),
    ("k8s-namespace-network-policy", "serving-netpol", {"metadata.namespace": "other"},
     {"exemptions": {"mlserve-serving": "a pending change adds it"}}),
    ("istio-allow-policy-names-callers", "callers", {"spec.action": "DENY", "spec.rules": [{}]}, None),
    ("istio-allow-policy-names-callers", "callers", {"spec.rules": [{"when": [{"key": "request.auth.claims[iss]", "values": ["x"]}]}]}, None),
    ("istio-allow-policy-names-callers", "callers", {"spec.rules": []}, None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(scheme="internal")},
     None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway",
     {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(scheme=None, type=None, internal="true")}, None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(scheme=None)},
     None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway",
     {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(scheme=None, type=None),
      "values.service.loadBalancerClass": "service.k8s.aws/nlb"}, None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(ssl_ports=None)},
     None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(ssl_ports="*")},
     None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(ssl_ports="80, 443")},
     None),
    ("istio-gateway-no-plaintext-internet", "gateway", {"spec.servers.0.tls": {"httpsRedirect": True}, "spec.servers.0.port.number": 15021.0},
     None),
    ("istio-gateway-no-plaintext-internet", "gateway", {"spec.servers.0.port.protocol": "HTTPS", "spec.servers.0.port.number": 15021.0},
     None),
    ("istio-gateway-no-plaintext-internet", "gateway", {"spec.selector": {"istio": "other-gateway"}, "spec.servers.0.port.number": 15021.0},
     None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {"values.service.type": "ClusterIP", ANNOTATIONS: annotations(ssl_cert=None)},
     None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway",
     {"values.labels": DELETE, "name": "edge-gateway", f"{GATEWAY_PORTS}.1": PLAIN_443}, None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {"values.labels": {"istio": "edge"}, f"{GATEWAY_PORTS}.1": PLAIN_443}, None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway", {"chart": "another-chart", f"{GATEWAY_PORTS}.1": PLAIN_443}, None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway",
     {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(scheme=None, type="nlb-ip")}, None),
    ("istio-gateway-no-plaintext-internet", "ingress-gateway",
     {f"{GATEWAY_PORTS}.1": PLAIN_443, ANNOTATIONS: annotations(scheme=None, type=None, internal="0.0.0.0/0")}, None),
]
