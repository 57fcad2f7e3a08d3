"""NetworkPolicies of the serving namespace, as typed pulumi-kubernetes specs: deny everything, then
allow exactly the paths the model server needs. Enforced by the VPC CNI's network policy agent
(`enableNetworkPolicy` in the vpc-cni add-on's configuration, components/managed_addons.py).
https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy.html

In:  the Istio ingress gateway (and Flagger's load tester under `rollout: automatic`) to the server's
     port, through the sidecar (mTLS and the AuthorizationPolicy apply there too); Prometheus and the
     CloudWatch agent to the sidecar's merged-metrics port 15020, which Istio leaves out of traffic
     capture (so neither mTLS nor the AuthorizationPolicy sees it: this policy is its only gate).
     The kubelet's probes come from the node itself, which the agent admits.
Out: DNS (CoreDNS), istiod (xDS and certificates on 15012), and HTTPS (443) for S3 through the VPC's
     gateway endpoint, STS for IRSA and KMS: their addresses are AWS's public ranges, which a
     NetworkPolicy cannot name by service, so 443 is open to any address and nothing else is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi_kubernetes as kubernetes

from components.delivery_specs import MERGED_METRICS_PORT
from components.serving_contract import APP_LABEL, APP_NAME, SERVICE_PORT

net = kubernetes.networking.v1
meta = kubernetes.meta.v1
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Every namespace carries its own name in this label (Kubernetes sets it)."""
ISTIOD_PORT = 15012


def _peer(namespace: str, pod_labels: Mapping[str, str] | None = None) -> net.NetworkPolicyPeerArgs:
    return net.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: namespace}),
        pod_selector=meta.LabelSelectorArgs(match_labels=dict(pod_labels)) if pod_labels else None)


def _tcp(*ports: int) -> list[net.NetworkPolicyPortArgs]:
    return [net.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


def serving_pods() -> meta.LabelSelectorArgs:
    """The model server's pods in both rollout modes (Flagger's primary carries "<app>-primary")."""
    return meta.LabelSelectorArgs(match_expressions=[meta.LabelSelectorRequirementArgs(
        key=APP_LABEL, operator="In", values=[APP_NAME, f"{APP_NAME}-primary"])])


def default_deny() -> net.NetworkPolicySpecArgs:
    """Every pod of the namespace: no traffic in or out unless another policy allows it."""
    return net.NetworkPolicySpecArgs(pod_selector=meta.LabelSelectorArgs(), policy_types=["Ingress", "Egress"])


def server_ingress(*, callers: Sequence[tuple[str, Mapping[str, str]]],
                   scrapers: Sequence[tuple[str, Mapping[str, str]]]) -> net.NetworkPolicySpecArgs:
    """`callers` ((namespace, pod labels)) to the server's port; `scrapers` to the merged-metrics port."""
    return net.NetworkPolicySpecArgs(
        pod_selector=serving_pods(), policy_types=["Ingress"],
        ingress=[
            net.NetworkPolicyIngressRuleArgs(from_=[_peer(ns, labels) for ns, labels in callers], ports=_tcp(SERVICE_PORT)),
            net.NetworkPolicyIngressRuleArgs(from_=[_peer(ns, labels) for ns, labels in scrapers],
                                             ports=_tcp(MERGED_METRICS_PORT)),
        ])


def server_egress(*, istio_namespace: str) -> net.NetworkPolicySpecArgs:
    """DNS, istiod, and HTTPS out (S3, STS, KMS)."""
    dns = [net.NetworkPolicyPortArgs(protocol=protocol, port=53) for protocol in ("UDP", "TCP")]
    return net.NetworkPolicySpecArgs(
        pod_selector=serving_pods(), policy_types=["Egress"],
        egress=[
            net.NetworkPolicyEgressRuleArgs(to=[_peer("kube-system", {"k8s-app": "kube-dns"})], ports=dns),
            net.NetworkPolicyEgressRuleArgs(to=[_peer(istio_namespace, {"app": "istiod"})], ports=_tcp(ISTIOD_PORT)),
            net.NetworkPolicyEgressRuleArgs(to=[net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr="0.0.0.0/0"))],
                                            ports=_tcp(443)),
        ])


def loadtester_policy(*, flagger_namespace: str, serving_namespace: str, istio_namespace: str) -> net.NetworkPolicySpecArgs:
    """The load tester's namespace: Flagger's webhook calls in (its port 8080), and out only DNS, istiod and
    the model server's port (the acceptance check and the load test)."""
    dns = [net.NetworkPolicyPortArgs(protocol=protocol, port=53) for protocol in ("UDP", "TCP")]
    return net.NetworkPolicySpecArgs(
        pod_selector=meta.LabelSelectorArgs(), policy_types=["Ingress", "Egress"],
        ingress=[net.NetworkPolicyIngressRuleArgs(from_=[_peer(flagger_namespace)], ports=_tcp(8080))],
        egress=[
            net.NetworkPolicyEgressRuleArgs(to=[_peer("kube-system", {"k8s-app": "kube-dns"})], ports=dns),
            net.NetworkPolicyEgressRuleArgs(to=[_peer(istio_namespace, {"app": "istiod"})], ports=_tcp(ISTIOD_PORT)),
            net.NetworkPolicyEgressRuleArgs(to=[_peer(serving_namespace)], ports=_tcp(SERVICE_PORT)),
        ])
