"""The mesh: Istio (base, cni, istiod, ingress gateway; one pinned version), the AWS Load Balancer
Controller with its IRSA role, and the serving namespace with its security: sidecar injection,
Pod Security `restricted` enforced, STRICT mTLS, an AuthorizationPolicy that admits only the
ingress gateway (and Flagger's load tester under `rollout: automatic`), NetworkPolicies (deny all,
then the gateway, the metrics scrapers on the sidecar's merged-metrics port, DNS, istiod and HTTPS
out), an optional JWT requirement, and the Gateway the routes attach to.

Charts and values are in `components/mesh_charts.py`, the Istio object bodies in
`components/routing.py`. The Kubernetes and AWS providers come in through `opts`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as kubernetes

from components import mesh_charts as charts
from components import network_policies as policies
from components import routing
from components.cluster_addons import _pinned_release
from components.iam_roles import irsa_trust_policy
from components.serving_contract import SERVING_NAMESPACE

GATEWAY_NAME = "mlserve-gateway"


@dataclass(frozen=True, kw_only=True)
class MeshArgs:
    """What the mesh needs from the cluster and the settings."""

    cluster_name: pulumi.Input[str]
    """EKS cluster name (the load balancer controller tags what it creates with it)."""
    region: str
    """AWS region, e.g. "us-west-2"."""
    vpc_id: pulumi.Input[str]
    """The cluster's VPC, where the NLB goes."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider ARN (the controller's IRSA role trusts it)."""
    oidc_issuer: pulumi.Input[str]
    """The OIDC issuer without "https://"."""
    ingress_scheme: str = "internal"
    """Default "internal". "internal" or "internet-facing" (the latter needs `certificate_arn`)."""
    certificate_arn: str | None = None
    """Default none. ACM certificate for TLS at the NLB; without it the ingress serves HTTP only."""
    hosts: tuple[str, ...] = ("*",)
    """Default ("*",). Host names the Gateway accepts."""
    jwt_issuer: str | None = None
    """Default none. With `jwks_uri`: every request through the gateway needs a valid token from it."""
    jwks_uri: str | None = None
    """Default none. The issuer's key set URL."""
    metrics_scrapers: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    """Default none. (namespace, pod labels) of the pods that scrape the sidecars' merged metrics
    (port 15020): Prometheus and the CloudWatch agent. Admitted by NetworkPolicy only (see routing.py)."""
    loadtester: tuple[str, str] | None = None
    """Default none. (namespace, service account) of Flagger's load tester, admitted to POST /predict."""
    replicas: int = 2
    """Default 2. Fewest pods of istiod, the ingress gateway and the load balancer controller (1 in dev)."""

    def __post_init__(self) -> None:
        if self.ingress_scheme not in ("internal", "internet-facing"):
            raise ValueError(f"ingress_scheme {self.ingress_scheme!r}: 'internal' or 'internet-facing'")
        if self.ingress_scheme == "internet-facing" and self.certificate_arn is None:
            raise ValueError("ingress_scheme internet-facing needs certificate_arn (no plaintext over the internet)")
        if (self.jwt_issuer is None) != (self.jwks_uri is None):
            raise ValueError("jwt_issuer and jwks_uri go together")
        for namespace, _ in self.metrics_scrapers + ((self.loadtester,) if self.loadtester else ()):
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
                raise ValueError(f"namespace {namespace!r} is not a Kubernetes namespace name")
        if not 1 <= self.replicas <= 10:
            raise ValueError(f"replicas {self.replicas}: 1..10")
        if not self.hosts:
            raise ValueError("hosts must name at least one host ('*' for any)")


def _istio_object(name: str, api_version: str, kind: str, namespace: pulumi.Input[str], object_name: str,
                  spec: dict, opts: pulumi.ResourceOptions) -> kubernetes.apiextensions.CustomResource:
    return kubernetes.apiextensions.CustomResource(
        name, api_version=api_version, kind=kind,
        metadata=kubernetes.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace,
                                                   labels={"app.kubernetes.io/part-of": "mlserve"}),
        spec=spec, opts=opts,
    )


class Mesh(pulumi.ComponentResource):
    """Istio, the AWS Load Balancer Controller, the secured serving namespace and its Gateway."""

    serving_namespace: pulumi.Output[str]
    """The namespace the model server runs in (created here, with its security policies)."""
    gateway: str
    """"<namespace>/<name>" of the Istio Gateway routes attach to."""
    ingress_url: pulumi.Output[str]
    """"http(s)://<NLB DNS name>": where clients reach the model server."""
    lb_controller_role_arn: pulumi.Output[str]
    """The load balancer controller's IRSA role."""
    lb_controller: pulumi.Resource
    """The controller's Helm release: every Kubernetes Service of the stack waits for it (below)."""

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:mesh:Mesh", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(resources))

        # --- AWS Load Balancer Controller -------------------------------------------------
        role = aws.iam.Role(
            f"{name}-lb-controller-role",
            description="AWS Load Balancer Controller (IRSA): NLBs for the Istio ingress gateway",
            assume_role_policy=irsa_trust_policy(args.oidc_provider_arn, args.oidc_issuer,
                                                 namespace=charts.LB_CONTROLLER_NAMESPACE,
                                                 service_account=charts.LB_CONTROLLER_SERVICE_ACCOUNT),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-lb-controller-policy", role=role.id,
            policy=role.arn.apply(lambda arn: json.dumps(charts.lb_controller_policy(arn.split(":")[1]))),
            opts=child,
        )
        lb_controller = _pinned_release(
            f"{name}-lb-controller",
            (charts.LB_CONTROLLER_CHART, charts.LB_CONTROLLER_CHART_VERSION, charts.LB_CONTROLLER_REPOSITORY),
            namespace=charts.LB_CONTROLLER_NAMESPACE,
            values=charts.lb_controller_values(cluster_name=args.cluster_name, region=args.region,
                                               vpc_id=args.vpc_id, role_arn=role.arn, replicas=args.replicas),
            opts=after(policy),  # its first reconcile needs the permissions
        )

        # --- Istio ----------------------------------------------------------------------------
        def namespace(role_name: str, ns: str, labels: dict[str, str], opts: pulumi.ResourceOptions):
            return kubernetes.core.v1.Namespace(
                f"{name}-{role_name}-namespace",
                metadata=kubernetes.meta.v1.ObjectMetaArgs(name=ns, labels={"app.kubernetes.io/part-of": "mlserve", **labels}),
                opts=opts,
            )

        # The controller registers a mutating webhook on every Service create (failurePolicy: Fail):
        # a Service created after the webhook exists and before the controller answers is refused
        # ("no endpoints available for service aws-load-balancer-webhook-service"). Helm waits for the
        # controller to be ready, so every release below, and everything after the mesh, waits for it.
        # https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/4140
        # https://github.com/aws/eks-charts/issues/1058
        # The CNI agent mounts host paths (privileged); istiod itself would pass "baseline".
        istio_ns = namespace("istio", charts.ISTIO_NAMESPACE, {"pod-security.kubernetes.io/enforce": "privileged"}, child)
        pin = (charts.ISTIO_VERSION, charts.ISTIO_REPOSITORY)
        base = _pinned_release(f"{name}-istio-base", ("base", *pin), namespace=istio_ns.metadata.name,
                               values={}, opts=after(lb_controller))  # CRDs and webhooks only: no images
        cni = _pinned_release(f"{name}-istio-cni", ("cni", *pin), namespace=istio_ns.metadata.name,
                              values=charts.cni_values(), opts=after(base, lb_controller))
        istiod = _pinned_release(f"{name}-istiod", ("istiod", *pin), namespace=istio_ns.metadata.name,
                                 values=charts.istiod_values(replicas=args.replicas), opts=after(base, cni, lb_controller))
        # The gateway pods need no privilege (the chart lowers the unprivileged port start, a "safe" sysctl).
        ingress_ns = namespace("ingress", charts.INGRESS_NAMESPACE, {"istio-injection": "enabled",
                                                                     "pod-security.kubernetes.io/enforce": "baseline"}, child)
        # The gateway's Service must meet the controller's webhook, or the in-tree cloud provider
        # would make a Classic Load Balancer for it; and its pods need istiod to inject them.
        gateway_release = kubernetes.helm.v3.Release(
            f"{name}-ingress-gateway", name=charts.INGRESS_RELEASE, chart="gateway", version=charts.ISTIO_VERSION,
            repository_opts=kubernetes.helm.v3.RepositoryOptsArgs(repo=charts.ISTIO_REPOSITORY),
            namespace=ingress_ns.metadata.name,
            values=charts.gateway_values(scheme=args.ingress_scheme, certificate_arn=args.certificate_arn,
                                        replicas=args.replicas),
            opts=after(istiod, lb_controller),
        )

        # --- The serving namespace and its security -------------------------------------------
        serving_ns = namespace("serving", SERVING_NAMESPACE, {
            "istio-injection": "enabled",
            # https://kubernetes.io/docs/concepts/security/pod-security-admission/#pod-security-admission-labels-for-namespaces
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
        }, after(istiod))
        istio_ready = after(base, istiod)  # the CRDs, and istiod's validating webhook
        ns = serving_ns.metadata.name
        _istio_object(f"{name}-mtls", routing.ISTIO_SECURITY, "PeerAuthentication", ns, "default",
                      routing.peer_authentication_spec(), istio_ready)
        _istio_object(f"{name}-authorization", routing.ISTIO_SECURITY, "AuthorizationPolicy", ns, "model-server-callers",
                      routing.authorization_policy_spec(
                          ingress_principal=routing.principal(charts.INGRESS_NAMESPACE, charts.INGRESS_RELEASE),
                          jwt_issuer=args.jwt_issuer,
                          loadtester_principal=routing.principal(*args.loadtester) if args.loadtester else None),
                      istio_ready)
        if args.jwt_issuer is not None and args.jwks_uri is not None:
            _istio_object(f"{name}-jwt", routing.ISTIO_SECURITY, "RequestAuthentication", ns, "model-server-jwt",
                          routing.request_authentication_spec(issuer=args.jwt_issuer, jwks_uri=args.jwks_uri),
                          istio_ready)
        callers = [(charts.INGRESS_NAMESPACE, charts.INGRESS_SELECTOR)]
        if args.loadtester is not None:
            callers.append((args.loadtester[0], {}))
        for policy_name, spec in (
            ("default-deny", policies.default_deny()),
            ("server-ingress", policies.server_ingress(
                callers=callers, scrapers=[(scraper_ns, dict(labels)) for scraper_ns, labels in args.metrics_scrapers])),
            ("server-egress", policies.server_egress(istio_namespace=charts.ISTIO_NAMESPACE)),
        ):
            kubernetes.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}", metadata=kubernetes.meta.v1.ObjectMetaArgs(
                    name=policy_name, namespace=ns, labels={"app.kubernetes.io/part-of": "mlserve"}),
                spec=spec, opts=pulumi.ResourceOptions(parent=self))
        _istio_object(f"{name}-gateway", routing.ISTIO_NETWORKING, "Gateway", ingress_ns.metadata.name, GATEWAY_NAME,
                      routing.gateway_spec(hosts=list(args.hosts), selector=charts.INGRESS_SELECTOR), istio_ready)

        # The NLB's DNS name, which the controller writes into the gateway Service's status (the
        # gateway chart names the Service after the release). The id comes from the release's status,
        # so on a first `pulumi preview` (release not installed, status unknown) the read is skipped
        # rather than failing on a Service that does not exist yet.
        # https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/
        release_status = gateway_release.status
        service = kubernetes.core.v1.Service.get(
            f"{name}-ingress-service", pulumi.Output.concat(release_status.namespace, "/", release_status.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway_release]),
        )
        scheme = "https" if args.certificate_arn else "http"
        self.ingress_url = service.status.apply(
            lambda status: f"{scheme}://{status.load_balancer.ingress[0].hostname}"
            if status and status.load_balancer and status.load_balancer.ingress else ""
        )
        self.serving_namespace = ns
        self.gateway = f"{charts.INGRESS_NAMESPACE}/{GATEWAY_NAME}"
        self.lb_controller_role_arn = role.arn
        self.lb_controller = lb_controller
        self.register_outputs({"serving_namespace": self.serving_namespace, "gateway": self.gateway,
                               "ingress_url": self.ingress_url, "lb_controller_role_arn": self.lb_controller_role_arn})
