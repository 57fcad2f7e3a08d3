"""Namespace rules: every namespace the stack creates has a NetworkPolicy (CIS Amazon EKS Benchmark 4.3.2).

Kubernetes admits all traffic to and from a pod no NetworkPolicy selects; a namespace without one is
open to every pod of the cluster. Enforcement itself is the CNI's job (`eks-network-policy-enforced`).
Namespaces a Helm release creates (`createNamespace`) are not seen: declare the Namespace object instead.
"""

from __future__ import annotations

from policies.rules import get, setting, stack_rule

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

NETWORK_POLICY_CONFIG = {"exemptions": {
    "type": "object", "additionalProperties": {"type": "string", "minLength": 10}, "default": {},
    "description": "Namespace -> why it has no NetworkPolicy yet (a pending change, or what its pods need open); "
                   "reviewed in the config file"}}


def _network_policies(args):
    exempt = setting(args, NETWORK_POLICY_CONFIG, "exemptions")
    covered = {get(r.props, "metadata.namespace") for r in args.resources if r.resource_type == NETWORK_POLICY}
    for namespace in (r for r in args.resources if r.resource_type == NAMESPACE):
        name = get(namespace.props, "metadata.name")
        if name not in covered and name not in exempt:
            yield (f"namespace {name} has no NetworkPolicy: declare one (default deny, then allow what its pods "
                   "serve and call) or exempt it with a reason in the policy config"), namespace.urn


RULES = [
    stack_rule("k8s-namespace-network-policy",
               "Every namespace the stack creates has a NetworkPolicy, or a reviewed exemption "
               "(CIS Amazon EKS Benchmark 4.3.2; Checkov's NetworkPolicy graph check).",
               _network_policies, config=NETWORK_POLICY_CONFIG),
]
