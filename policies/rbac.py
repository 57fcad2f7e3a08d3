"""Kubernetes RBAC rules: roles grant named verbs on named resources, nothing that escalates, and
bindings name their subjects (CIS Kubernetes Benchmark 5.1, Checkov CKV_K8S_49, CKV_K8S_155-158).

Objects a Helm release installs are not visible to the pack (the plan holds the release, not its
rendered templates); these rules judge the RBAC objects the stack declares itself.
"""

from __future__ import annotations

from policies.rules import as_list, get, resource_rule

_RBAC = "kubernetes:rbac.authorization.k8s.io/v1:"
ROLES = [f"{_RBAC}Role", f"{_RBAC}ClusterRole"]
BINDINGS = [f"{_RBAC}RoleBinding", f"{_RBAC}ClusterRoleBinding"]
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}
READ_VERBS = {"get", "list", "watch", "*"}
# (resource, verbs, why): grants that hand over the cluster even without a wildcard.
# https://kubernetes.io/docs/concepts/security/rbac-good-practices/#privilege-escalation-risks
ESCALATING = (
    ("mutatingwebhookconfigurations", WRITE_VERBS, "a webhook sees and rewrites every object (CKV_K8S_155)"),
    ("validatingwebhookconfigurations", WRITE_VERBS, "a webhook sees every object (CKV_K8S_155)"),
    ("certificatesigningrequests/approval", {"update", "patch", "*"}, "approving CSRs mints credentials (CKV_K8S_156)"),
    ("pods/exec", {"create", "get", "*"}, "exec runs commands as any pod's identity"),
    ("pods/attach", {"create", "get", "*"}, "attach reaches any pod's processes"),
    ("nodes/proxy", {"create", "get", "*"}, "the kubelet API runs commands in every pod of a node"),
    ("services/status", {"update", "patch", "*"}, "a Service's status redirects its load balancer traffic"),
    ("serviceaccounts/token", {"create", "*"}, "creating tokens hands out other identities"),
)
# Verbs that escalate on whatever they name (CKV_K8S_157, CKV_K8S_158; impersonation).
ESCALATING_VERBS = {"bind", "escalate", "impersonate", "approve"}
# Subjects that are everyone, or the identity every pod of a namespace gets by default (CKV_K8S_42).
BROAD_GROUPS = {"system:anonymous", "system:unauthenticated", "system:authenticated"}


def _rules(props):
    return [r for r in as_list(props.get("rules"))]


def _no_wildcards(props, _args):
    for index, rule in enumerate(_rules(props)):
        wild = [key for key in ("apiGroups", "resources", "verbs", "nonResourceURLs") if "*" in as_list(get(rule, key))]
        if wild:
            yield f"rules[{index}] has '*' in {wild}: list the API groups, resources and verbs the workload uses"


def _no_escalation(props, _args):
    for index, rule in enumerate(_rules(props)):
        verbs = {str(v) for v in as_list(get(rule, "verbs"))}
        resources = {str(r) for r in as_list(get(rule, "resources"))}
        risky = sorted(verbs & ESCALATING_VERBS)
        if risky:
            yield f"rules[{index}] grants {risky}: these let the holder act beyond its own permissions"
        for resource, bad_verbs, why in ESCALATING:
            if (resource in resources or "*" in resources) and verbs & bad_verbs:
                yield f"rules[{index}] grants {sorted(verbs & bad_verbs)} on {resource}: {why}"
        if ("secrets" in resources or "*" in resources) and verbs & READ_VERBS and not as_list(get(rule, "resourceNames")):
            yield f"rules[{index}] reads every secret ({sorted(verbs & READ_VERBS)}): name the secrets in resourceNames"


def _named_subjects(props, _args):
    if get(props, "roleRef.name") == "cluster-admin":
        yield "binds cluster-admin: bind a role with the verbs this subject needs"
    for subject in as_list(props.get("subjects")):
        kind, name = get(subject, "kind"), get(subject, "name")
        if kind == "ServiceAccount" and name == "default":
            yield ("binds the 'default' service account, which every pod of its namespace runs as: give the "
                   "workload a ServiceAccount of its own")
        elif name in BROAD_GROUPS:  # system:anonymous is also the user of unauthenticated requests
            yield f"binds {kind} {name}, i.e. everyone who can reach the API: bind named service accounts or groups"


RULES = [
    resource_rule("k8s-rbac-no-wildcards",
                  "Roles and ClusterRoles use no '*' for API groups, resources or verbs (Checkov CKV_K8S_49, CIS Kubernetes 5.1.3).",
                  ROLES, _no_wildcards),
    resource_rule("k8s-rbac-no-escalation",
                  "Roles grant nothing that escalates: bind, escalate, impersonate, webhooks, CSR approval, exec, "
                  "node proxy, reading every secret (Checkov CKV_K8S_155-158, CIS Kubernetes 5.1.2, 5.1.8).",
                  ROLES, _no_escalation),
    resource_rule("k8s-rbac-named-subjects",
                  "Bindings never grant cluster-admin, the default service account or everyone "
                  "(Checkov CKV_K8S_42, CIS Kubernetes 5.1.1, 5.1.5).",
                  BINDINGS, _named_subjects),
]
