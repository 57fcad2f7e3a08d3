"""The mesh under the offline engine: pinned charts with values the charts know, the load balancer
controller's IRSA role and published policy, the serving namespace's security objects (valid against
the pinned Istio CRDs), the NLB per settings and the ingress URL."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as kubernetes
import pytest
import yaml

from components import mesh_charts
from components.mesh import Mesh, MeshArgs
from tests.components.addons_support import CHARTS, OIDC_ISSUER, OIDC_PROVIDER_ARN, RELEASE
from tests.components.test_cluster_addons import _unknown_key_paths
from tests.istio_schema import validate_istio
from tests.k8s_schema import manifest_from_inputs, validate_manifest

CERT = "arn:aws:acm:us-west-2:123456789012:certificate/0f3c5a4e-1111-2222-3333-444455556666"
ISTIO_KINDS = ("Gateway", "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication")


def build(run_pulumi, **overrides: Any):
    def program() -> None:
        providers = [aws.Provider("aws", region="us-west-2"), kubernetes.Provider("k8s", kubeconfig="{}")]
        mesh = Mesh("mesh", MeshArgs(cluster_name=pulumi.Output.from_input("mlserve-prod"), region="us-west-2",
                                     vpc_id="vpc-0123", oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=OIDC_ISSUER,
                                     **overrides), opts=pulumi.ResourceOptions(providers=providers))
        pulumi.export("ingress_url", mesh.ingress_url)
        pulumi.export("serving_namespace", mesh.serving_namespace)

    return run_pulumi(program, stack="prod")




def _release(plan, chart):
    [release] = [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == chart]
    return release


def _istio(plan, kind):
    return [r for r in plan.resources if r.type.endswith(f":{kind}") and r.type.startswith("kubernetes:")]


def test_every_chart_is_pinned_vendored_and_istio_is_one_version(run_pulumi):
    plan = build(run_pulumi)
    releases = {r.inputs["chart"]: r for r in plan.of_type(RELEASE)}
    assert set(releases) == {"base", "cni", "istiod", "gateway", "aws-load-balancer-controller"}
    assert {releases[c].inputs["version"] for c in ("base", "cni", "istiod", "gateway")} == {mesh_charts.ISTIO_VERSION}
    for chart, release in releases.items():
        folder = CHARTS / f"{chart}-{release.inputs['version']}"
        assert (folder / "values.yaml").is_file() and (folder / "LICENSE").is_file(), f"vendor {folder.name}"
        defaults = yaml.safe_load((folder / "values.yaml").read_text())
        # Istio's charts keep their defaults under _internal_defaults_do_not_set (a Helm workaround).
        defaults = defaults.get("_internal_defaults_do_not_set", defaults)
        # meshConfig is Istio's MeshConfig (free-form here; istiod validates it at start); istiod's
        # pdb documents maxUnavailable in a comment only (values.yaml: "If set, 'minAvailable' is ignored").
        unknown = list(_unknown_key_paths(release.inputs["values"], defaults, {("meshConfig",), ("labels",), ("pdb",)}))
        assert not unknown, f"{chart}: no values key(s) {unknown}"
        if chart in ("cni", "istiod"):  # the charts with images of their own (the gateway's is injected)
            assert release.inputs["values"]["global"] == {"hub": "docker.io/istio", "tag": mesh_charts.ISTIO_VERSION}


def test_the_gateway_waits_for_istiod_and_the_lb_controller_and_istio_objects_for_the_crds(run_pulumi):
    plan = build(run_pulumi)
    urn = {r.inputs["chart"]: r.urn for r in plan.of_type(RELEASE)}
    gateway = _release(plan, "gateway")
    assert {urn["istiod"], urn["aws-load-balancer-controller"]} <= set(gateway.dependencies)
    for kind in ISTIO_KINDS[:3]:
        for resource in _istio(plan, kind):
            assert {urn["base"], urn["istiod"]} <= set(resource.dependencies), resource.name


def test_lb_controller_role_trusts_only_its_service_account_and_carries_the_published_policy(run_pulumi):
    plan = build(run_pulumi)
    role = plan.one("aws:iam/role:Role", "mesh-lb-controller-role")
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert condition[f"{OIDC_ISSUER}:sub"] == "system:serviceaccount:kube-system:aws-load-balancer-controller"
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "mesh-lb-controller-policy").inputs["policy"])
    assert policy == mesh_charts.lb_controller_policy("aws")
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "elasticloadbalancing:CreateLoadBalancer" in actions
    values = _release(plan, "aws-load-balancer-controller").inputs["values"]
    assert values["serviceAccount"]["name"] == "aws-load-balancer-controller"
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    assert mesh_charts.lb_controller_policy("aws-cn") != policy and '"arn:aws:' not in json.dumps(
        mesh_charts.lb_controller_policy("aws-cn"))


def test_serving_namespace_is_injected_restricted_and_strict(run_pulumi):
    plan = build(run_pulumi)
    [namespace] = [r for r in plan.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == plan.exports["serving_namespace"]]
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled" and labels["pod-security.kubernetes.io/enforce"] == "restricted"
    [mtls] = _istio(plan, "PeerAuthentication")
    assert mtls.inputs["spec"] == {"mtls": {"mode": "STRICT"}} and "selector" not in mtls.inputs["spec"]
    assert _release(plan, "istiod").inputs["values"]["cni"]["enabled"] is True, "restricted needs the CNI agent"


def test_only_the_gateway_is_admitted_and_metrics_never_pass_the_sidecar(run_pulumi):
    plan = build(run_pulumi)
    [policy] = _istio(plan, "AuthorizationPolicy")
    spec = policy.inputs["spec"]
    assert spec["action"] == "ALLOW" and "selector" not in spec  # namespace-wide: Flagger's primary pods too
    [gateway_rule] = spec["rules"]
    assert gateway_rule["from"] == [{"source": {"principals": ["cluster.local/ns/istio-ingress/sa/istio-ingress"]}}]
    assert gateway_rule["to"][0]["operation"] == {"ports": ["8080"], "notPaths": ["/metrics"]}
    assert _istio(plan, "RequestAuthentication") == []


def test_the_load_tester_may_post_predictions_only(run_pulumi):
    plan = build(run_pulumi, loadtester=("mlserve-loadtest", "flagger-loadtester"))
    [policy] = _istio(plan, "AuthorizationPolicy")
    _, tester = policy.inputs["spec"]["rules"]
    assert tester == {"from": [{"source": {"principals": ["cluster.local/ns/mlserve-loadtest/sa/flagger-loadtester"]}}],
                      "to": [{"operation": {"ports": ["8080"], "methods": ["POST"], "paths": ["/predict"]}}]}
    ingress = _network_policies(plan)["server-ingress"]["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlserve-loadtest"}}} in ingress


def _network_policies(plan):
    return {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}


def _ports(rule):
    return {(p["protocol"], int(p["port"])) for p in rule["ports"]}


def test_the_serving_namespace_denies_all_but_the_gateway_the_scrapers_dns_istiod_and_https(run_pulumi):
    scrapers = (("monitoring", (("app.kubernetes.io/name", "prometheus"),)), ("amazon-cloudwatch", ()))
    plan = build(run_pulumi, metrics_scrapers=scrapers)
    policies = _network_policies(plan)
    assert set(policies) == {"default-deny", "server-ingress", "server-egress"}
    assert {p["metadata"]["namespace"] for p in policies.values()} == {plan.exports["serving_namespace"]}
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    server, scrape = policies["server-ingress"]["spec"]["ingress"]
    assert _ports(server) == {("TCP", 8080)}
    assert server["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}},
                               "podSelector": {"matchLabels": {"istio": "ingress"}}}]
    # The scrapers reach only the sidecar's merged-metrics port, the one Istio leaves uncaptured.
    assert _ports(scrape) == {("TCP", 15020)}
    assert scrape["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
         "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "amazon-cloudwatch"}}}]
    dns, istiod, https = policies["server-egress"]["spec"]["egress"]
    assert _ports(dns) == {("UDP", 53), ("TCP", 53)} and _ports(istiod) == {("TCP", 15012)}
    assert _ports(https) == {("TCP", 443)} and https["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    selected = policies["server-ingress"]["spec"]["podSelector"]["matchExpressions"]
    assert selected == [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["model-server", "model-server-primary"]}]


def test_a_jwt_issuer_makes_a_valid_token_required(run_pulumi):
    plan = build(run_pulumi, jwt_issuer="https://id.example.com", jwks_uri="https://id.example.com/.well-known/jwks.json")
    [jwt] = _istio(plan, "RequestAuthentication")
    assert jwt.inputs["spec"]["jwtRules"][0]["issuer"] == "https://id.example.com"
    [policy] = _istio(plan, "AuthorizationPolicy")
    assert policy.inputs["spec"]["rules"][0]["from"][0]["source"]["requestPrincipals"] == ["https://id.example.com/*"]
    assert "selector" not in jwt.inputs["spec"] and "selector" not in policy.inputs["spec"]


@pytest.mark.parametrize("overrides", [{}, {"jwt_issuer": "https://i.example.com", "jwks_uri": "https://i.example.com/k"}])
def test_every_object_is_valid_against_its_schema(run_pulumi, overrides):
    plan = build(run_pulumi, **overrides)
    for resource in plan.resources:
        if resource.package != "kubernetes" or not resource.custom or resource.type in (RELEASE, "pulumi:providers:kubernetes"):
            continue
        manifest = manifest_from_inputs(resource.inputs)
        if "istio.io" in resource.type:
            validate_istio(manifest)
        else:
            validate_manifest(manifest, "1.36")


def test_the_nlb_is_internal_by_default_and_tls_ends_there_with_a_certificate(run_pulumi):
    internal = build(run_pulumi)
    annotations = _release(internal, "gateway").inputs["values"]["service"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert "service.beta.kubernetes.io/aws-load-balancer-ssl-cert" not in annotations
    assert internal.exports["ingress_url"].startswith("http://") and ".elb.us-west-2.amazonaws.com" in internal.exports["ingress_url"]
    public = build(run_pulumi, ingress_scheme="internet-facing", certificate_arn=CERT)
    service = _release(public, "gateway").inputs["values"]["service"]
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == CERT
    assert {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 80} in [
        {k: (int(v) if isinstance(v, float) else v) for k, v in p.items()} for p in service["ports"]]
    assert public.exports["ingress_url"].startswith("https://")


def test_args_refuse_plaintext_on_the_internet_and_half_a_jwt_setup():
    common = dict(cluster_name="c", region="us-west-2", vpc_id="v", oidc_provider_arn="a", oidc_issuer="i")
    with pytest.raises(ValueError, match="certificate_arn"):
        MeshArgs(**common, ingress_scheme="internet-facing")
    with pytest.raises(ValueError, match="go together"):
        MeshArgs(**common, jwt_issuer="https://x")


def test_one_replica_never_blocks_a_drain(run_pulumi):
    plan = build(run_pulumi, replicas=1)
    values = {r.inputs["chart"]: r.inputs["values"] for r in plan.of_type(RELEASE)}
    assert values["istiod"]["replicaCount"] == 1 and values["istiod"]["pdb"] == {"maxUnavailable": 1}
    assert values["gateway"]["autoscaling"]["minReplicas"] == 1 and values["gateway"]["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert values["aws-load-balancer-controller"]["replicaCount"] == 1
