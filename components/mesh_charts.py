"""The pinned charts of the mesh and their values, as plain data and functions (tested without Pulumi).

Istio: one version for base (CRDs), cni, istiod and the ingress gateway. The serving namespace
enforces Pod Security `restricted`, which forbids the NET_ADMIN init container of classic sidecar
injection, so traffic redirection runs in the Istio CNI node agent instead:
https://istio.io/v1.30/docs/setup/additional-setup/pod-security-admission/
AWS Load Balancer Controller: gives the gateway's LoadBalancer Service an NLB (IP targets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ISTIO_VERSION = "1.30.3"
"""https://github.com/istio/istio/releases/tag/1.30.3; charts from https://istio-release.storage.googleapis.com/charts."""
ISTIO_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
ISTIO_HUB = "docker.io/istio"  # where the released charts take their images from
ISTIO_NAMESPACE = "istio-system"
INGRESS_NAMESPACE = "istio-ingress"
INGRESS_RELEASE = "istio-ingress"
"""The gateway release's name: its pods carry `istio: ingress` and run as service account "istio-ingress"."""
INGRESS_SELECTOR = {"istio": "ingress"}
STATUS_PORT = 15021
"""The gateway pods' health port (/healthz/ready): the NLB's health check, never a listener."""

LB_CONTROLLER_CHART = "aws-load-balancer-controller"
LB_CONTROLLER_CHART_VERSION = "1.17.1"  # app version v2.17.1
LB_CONTROLLER_VERSION = "v2.17.1"
LB_CONTROLLER_REPOSITORY = "https://aws.github.io/eks-charts"
LB_CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
LB_CONTROLLER_NAMESPACE = "kube-system"
_POLICY_FILE = Path(__file__).parent / "data" / f"aws-load-balancer-controller-{LB_CONTROLLER_VERSION}" / "iam_policy.json"

# NLB TLS policy: TLS 1.3 and 1.2 only. https://docs.aws.amazon.com/elasticloadbalancing/latest/network/describe-ssl-policies.html
NLB_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_LBC = "service.beta.kubernetes.io/aws-load-balancer-"


def lb_controller_policy(partition: str) -> dict[str, Any]:
    """The controller's published IAM policy for the pinned version (vendored unmodified under
    components/data/), with its "arn:aws:" resources moved into `partition`.

    Vendored rather than retyped: it is ~250 lines AWS revises with each controller release, and
    a copy with its source diffs cleanly on a version bump. https://kubernetes-sigs.github.io/aws-load-balancer-controller/"""
    text = _POLICY_FILE.read_text()
    return json.loads(text.replace('"arn:aws:', f'"arn:{partition}:'))


def lb_controller_values(*, cluster_name: Any, region: str, vpc_id: Any, role_arn: Any, replicas: int) -> dict[str, Any]:
    """`replicas` (behind a PDB when above 1, as the chart does it), the IRSA role on its service
    account, the VPC and region given (not read from IMDS, which the nodes' hop limit of 1 keeps from pods)."""
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": replicas,
        "podDisruptionBudget": {"maxUnavailable": 1},
        "serviceAccount": {"create": True, "name": LB_CONTROLLER_SERVICE_ACCOUNT,
                           "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        # Only Services that ask for it (the gateway's) get an NLB; no ALB IngressClass is needed.
        "createIngressClassResource": False,
    }


def istio_global_values() -> dict[str, Any]:
    """Every Istio chart pulls its images from the released hub at the pinned tag."""
    return {"global": {"hub": ISTIO_HUB, "tag": ISTIO_VERSION}}


def istiod_values(*, replicas: int) -> dict[str, Any]:
    """At least `replicas` istiod pods, redirection by the CNI agent, and a PDB that lets one go at a
    time (the chart's default minAvailable: 1 would block every drain of a one-replica dev)."""
    return {
        **istio_global_values(),
        "autoscaleMin": replicas,
        "replicaCount": replicas,
        "pdb": {"maxUnavailable": 1},
        "cni": {"enabled": True},
        # Probes are rewritten to the sidecar agent, so kubelet's probes pass STRICT mTLS.
        "meshConfig": {"defaultConfig": {"holdApplicationUntilProxyStarts": True}},
    }


def cni_values() -> dict[str, Any]:
    """The CNI node agent chained after the VPC CNI (EKS's default plugin)."""
    return {**istio_global_values(), "chained": True}


def gateway_values(*, scheme: str, certificate_arn: str | None, replicas: int) -> dict[str, Any]:
    """The ingress gateway: an NLB from the AWS Load Balancer Controller ("external" type, IP targets),
    internal or internet-facing. Listeners: HTTP 80 without a certificate; with one, TLS ends at the
    NLB's 443, which forwards to the gateway's plain-HTTP port 80; internet-facing, 443 is the only
    listener (no plaintext over the internet). The status port 15021 is never a listener: the NLB's
    health check reaches it on the pod IPs inside the VPC (IP targets), named by annotation.
    https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/"""
    annotations = {
        f"{_LBC}type": "external",
        f"{_LBC}nlb-target-type": "ip",
        f"{_LBC}scheme": scheme,
        # Istio's readiness endpoint on the gateway pods: https://istio.io/latest/docs/ops/deployment/application-requirements/#ports-used-by-istio
        f"{_LBC}healthcheck-port": str(STATUS_PORT),
        f"{_LBC}healthcheck-protocol": "http",
        f"{_LBC}healthcheck-path": "/healthz/ready",
    }
    http = {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80}
    https = {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 80}
    ports = [http]
    if certificate_arn is not None:
        annotations |= {f"{_LBC}ssl-cert": certificate_arn, f"{_LBC}ssl-ports": "https",
                        f"{_LBC}ssl-negotiation-policy": NLB_TLS_POLICY}
        ports = [https] if scheme == "internet-facing" else [http, https]
    elif scheme == "internet-facing":
        raise ValueError("an internet-facing gateway needs a certificate: no plaintext listener on the internet")
    return {
        # No image values: the gateway's image is "auto", injected by istiod at its own hub and tag.
        "labels": dict(INGRESS_SELECTOR),
        "service": {"type": "LoadBalancer", "annotations": annotations, "ports": ports},
        "autoscaling": {"minReplicas": replicas, "maxReplicas": max(6, replicas)},
        "podDisruptionBudget": {"maxUnavailable": 1},
    }
