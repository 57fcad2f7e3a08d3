"""Every Kubernetes object the whole program declares, checked strictly against the schema of
the stack's Kubernetes version (kubernetes-validate), and every Helm release pinned."""

from __future__ import annotations

import json
import re

import pytest

from mlserve.offline import engine
from mlserve.offline import plan as plan_cli
from mlserve.stack.settings import parse
from tests.crd_schema import is_custom, validate_custom
from tests.k8s_schema import manifest_from_inputs, validate_manifest

# Resource types that are not Kubernetes objects themselves.
NOT_OBJECTS = re.compile(r"^kubernetes:(helm\.sh/v\d+:Release|index:Provider|yaml/.*|helm\.sh/v\d+:Chart)$")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_kubernetes_object_validates_strictly(stack, built_plan):
    plan = built_plan(stack)
    version = parse(engine.stack_config(plan_cli.ROOT / f"Pulumi.{stack}.yaml"), stack_file="x").cluster.kubernetes_version
    objects = [r for r in plan.resources if r.package == "kubernetes" and r.custom and not NOT_OBJECTS.match(r.type)]
    assert objects, "the stack declares Kubernetes objects (at least the device plugin namespace)"
    istio = [r for r in objects if ".istio.io/" in r.type]
    assert istio, "the mesh declares Istio objects (at least the Gateway and the security policies)"
    for resource in objects:
        # Custom resources (Istio, Prometheus Operator, Flagger, KEDA) against their pinned CRDs,
        # everything else against the cluster version.
        manifest = manifest_from_inputs(resource.inputs)
        if is_custom(manifest["apiVersion"], manifest["kind"]):
            validate_custom(manifest)
        else:
            validate_manifest(manifest, version)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_helm_release_is_pinned_and_on_the_cluster_provider(stack, built_plan):
    plan = built_plan(stack)
    provider = plan.one("pulumi:providers:kubernetes")
    releases = plan.of_type("kubernetes:helm.sh/v3:Release")
    assert {r.inputs["chart"] for r in releases} >= {"nvidia-device-plugin", "metrics-server", "cluster-autoscaler"}
    for release in releases:
        assert re.fullmatch(r"\d+\.\d+\.\d+", release.inputs["version"]), release.name
        assert release.provider.startswith(provider.urn), f"{release.name} must deploy to this stack's cluster"
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    [user] = kubeconfig["users"]
    assert user["user"]["exec"]["args"][:3] == ["eks", "get-token", "--cluster-name"]
