"""The Kubernetes half of the compliant stack (tests/policies/compliant.py): the serving namespace with a
workload, its ServiceAccount, RBAC, NetworkPolicy, autoscaler and budget, the Istio objects, and an
internet-facing ingress gateway that terminates TLS at its load balancer.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import serving_contract as contract

GATEWAY_NAMESPACE = "istio-ingress"
TLS_CERT = "arn:aws:acm:us-west-2:123456789012:certificate/example"
_LB = "service.beta.kubernetes.io/aws-load-balancer-"


def _pod_spec(image: str) -> k8s.core.v1.PodSpecArgs:
    return k8s.core.v1.PodSpecArgs(
        service_account_name="model-server", automount_service_account_token=False,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True, run_as_user=10001, seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
        volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi"))],
        containers=[k8s.core.v1.ContainerArgs(
            name="server", image=image,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=8080)],
            env=[k8s.core.v1.EnvVarArgs(name="MLSERVE_MODEL_URI", value="s3://mlserve-prod-models/models/m/1/")],
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
            resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "1", "memory": "2Gi"}, limits={"memory": "2Gi"}),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/ping", port=8080)),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/ping", port=8080)),
            security_context=k8s.core.v1.SecurityContextArgs(
                allow_privilege_escalation=False, read_only_root_filesystem=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
        )],
    )


def _serving(o: pulumi.ResourceOptions, image: str) -> None:
    ns = contract.SERVING_NAMESPACE
    meta = lambda name: k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns)  # noqa: E731
    labels = {contract.APP_LABEL: contract.APP_NAME, contract.TRACK_LABEL: "stable"}
    k8s.core.v1.Namespace("serving-ns", metadata=k8s.meta.v1.ObjectMetaArgs(name=ns), opts=o)
    k8s.core.v1.ServiceAccount("server-sa", metadata=meta("model-server"), automount_service_account_token=False, opts=o)
    k8s.rbac.v1.Role("server-role", metadata=meta("model-server"), rules=[k8s.rbac.v1.PolicyRuleArgs(
        api_groups=[""], resources=["configmaps"], verbs=["get", "watch"], resource_names=["model-server-config"])], opts=o)
    k8s.rbac.v1.RoleBinding("server-binding", metadata=meta("model-server"),
                            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name="model-server"),
                            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="model-server", namespace=ns)], opts=o)
    k8s.networking.v1.NetworkPolicy("serving-netpol", metadata=meta("model-server"), spec=k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={contract.APP_LABEL: contract.APP_NAME}), policy_types=["Ingress"],
        ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": GATEWAY_NAMESPACE}))])]),
        opts=o)
    k8s.apps.v1.Deployment("stable", metadata=meta("model-server-stable"), spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=2, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
        template=k8s.core.v1.PodTemplateSpecArgs(metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=_pod_spec(image))), opts=o)
    k8s.autoscaling.v2.HorizontalPodAutoscaler("stable-hpa", metadata=meta("model-server-stable"),
        spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
            min_replicas=2, max_replicas=10, scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="apps/v1", kind="Deployment", name="model-server-stable")), opts=o)
    k8s.policy.v1.PodDisruptionBudget("stable-pdb", metadata=meta("model-server-stable"), spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
        max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)), opts=o)


def _istio(o: pulumi.ResourceOptions) -> None:
    ns = contract.SERVING_NAMESPACE
    meta = lambda name, namespace=ns: k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace)  # noqa: E731
    custom = k8s.apiextensions.CustomResource
    custom("strict-mtls", api_version="security.istio.io/v1", kind="PeerAuthentication",
           metadata=meta("default"), spec={"mtls": {"mode": "STRICT"}}, opts=o)
    custom("callers", api_version="security.istio.io/v1", kind="AuthorizationPolicy", metadata=meta("model-server-callers"),
           spec={"action": "ALLOW", "selector": {"matchLabels": {contract.APP_LABEL: contract.APP_NAME}}, "rules": [
               {"from": [{"source": {"principals": [f"cluster.local/ns/{GATEWAY_NAMESPACE}/sa/istio-ingress"]}}],
                "to": [{"operation": {"ports": ["8080"], "notPaths": ["/metrics"]}}]}]}, opts=o)
    custom("routes", api_version="networking.istio.io/v1", kind="VirtualService", metadata=meta("model-server"),
           spec={"hosts": ["model-server"], "http": [{"route": [
               {"destination": {"host": "model-server", "subset": "stable"}, "weight": 90},
               {"destination": {"host": "model-server", "subset": "canary"}, "weight": 10}]}]}, opts=o)
    # Internet-facing, TLS ends at the NLB's 443 listener, which forwards to the gateway's plain port 80;
    # no plaintext listener faces the internet.
    k8s.helm.v3.Release("ingress-gateway", name="istio-ingress", chart="gateway", version="1.30.3", namespace=GATEWAY_NAMESPACE,
                        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo="https://istio-release.storage.googleapis.com/charts"),
                        values={"labels": {"istio": "ingress"}, "service": {
                            "type": "LoadBalancer",
                            "annotations": {f"{_LB}type": "external", f"{_LB}nlb-target-type": "ip",
                                            f"{_LB}scheme": "internet-facing", f"{_LB}ssl-cert": TLS_CERT, f"{_LB}ssl-ports": "https"},
                            "ports": [{"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
                                      {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 80}]}},
                        opts=o)
    custom("gateway", api_version="networking.istio.io/v1", kind="Gateway", metadata=meta("mlserve-gateway", GATEWAY_NAMESPACE),
           spec={"selector": {"istio": "ingress"},
                 "servers": [{"hosts": ["*"], "port": {"number": 443, "name": "https-at-nlb", "protocol": "HTTP"}}]}, opts=o)


def declare(o: pulumi.ResourceOptions, *, image: str) -> None:
    """Declare the Kubernetes objects with provider options `o`; pods run `image`."""
    _serving(o, image)
    _istio(o)
