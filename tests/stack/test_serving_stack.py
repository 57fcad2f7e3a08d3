"""Serving on EKS across components, from the whole program's declared objects (not constants):
pods, Service and subsets agree; GPU pods match their node group; roles, autoscalers, images and
drain fit together; the routes follow the stack file."""

from __future__ import annotations

from tests.stack.conftest import MANUAL_PROD  # noqa: E402  (prod with a weighted canary)

import json
import re

import pytest

from mlserve.offline import engine
from mlserve.offline.engine import FAKE_ACCOUNT_ID
from mlserve.stack.settings.serving import ServerLimits
from tests.stack.test_settings import ROOT, as_config, stack_values
from tests.stack.test_settings_serving import _gpu_tracks

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def _deployments(plan):
    return {r.inputs["spec"]["template"]["metadata"]["labels"]["mlserve.io/track"]: r for r in plan.of_type(DEPLOYMENT)}


def _pod(deployment):
    return deployment.inputs["spec"]["template"]["spec"]


def _vs(plan):
    return plan.one("kubernetes:networking.istio.io/v1:VirtualService")


def test_prod_runs_stable_and_canary_and_dev_its_stable_demo_model(built_plan):
    assert set(_deployments(built_plan(MANUAL_PROD))) == {"stable", "canary"}
    dev = built_plan("dev")
    assert set(_deployments(dev)) == {"stable"} and dev.exports["route_weights"] == {"stable": 100}
    assert dev.one("mlserve:mesh:Mesh"), "the mesh is platform: dev has it too"


def test_pod_labels_match_the_subsets_and_the_service(built_plan):
    plan = built_plan(MANUAL_PROD)
    deployments = _deployments(plan)
    service = plan.one("kubernetes:core/v1:Service", "serving-service")
    rule = plan.one("kubernetes:networking.istio.io/v1:DestinationRule")
    assert rule.inputs["spec"]["host"] == f"{service.inputs['metadata']['name']}.{service.inputs['metadata']['namespace']}.svc.cluster.local"
    subsets = {s["name"]: s["labels"] for s in rule.inputs["spec"]["subsets"]}
    assert set(subsets) == set(deployments)
    for track, deployment in deployments.items():
        labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        assert subsets[track].items() <= labels.items()
        assert service.inputs["spec"]["selector"].items() <= labels.items()
        assert deployment.inputs["metadata"]["namespace"] == service.inputs["metadata"]["namespace"]
    # The authorization policy protects every pod of the namespace (no selector: Flagger's primary
    # pods carry another app label than the Deployment the stack declares).
    policy = plan.one("kubernetes:security.istio.io/v1:AuthorizationPolicy")
    assert "selector" not in policy.inputs["spec"]
    assert policy.inputs["metadata"]["namespace"] == service.inputs["metadata"]["namespace"]


def test_gpu_pods_tolerate_exactly_their_node_groups_taints_and_select_its_label(built_plan):
    plan = built_plan(MANUAL_PROD)
    groups = {r.inputs["labels"]["mlserve.io/node-pool"]: r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
    for track, deployment in _deployments(plan).items():
        pod = _pod(deployment)
        [(key, pool)] = pod["nodeSelector"].items()
        group = groups[pool]
        assert group.inputs["labels"][key] == pool
        taints = [{"key": t["key"], "operator": "Equal", "value": t["value"], "effect": EFFECTS[t["effect"]]}
                  for t in group.inputs.get("taints", [])]
        assert pod.get("tolerations", []) == taints, track
        if "nvidia.com/gpu.present" in group.inputs["labels"]:
            assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_each_role_trusts_its_own_service_account_and_reads_only_its_model_prefix(built_plan):
    plan = built_plan(MANUAL_PROD)
    accounts = {r.inputs["metadata"]["name"]: r for r in plan.of_type("kubernetes:core/v1:ServiceAccount")
                if r.inputs["metadata"].get("namespace") == "mlserve-serving"}
    roles = {r.urn: r for r in plan.of_type("aws:iam/role:Role")}
    policies = {p.inputs["role"]: p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")}
    for track, deployment in _deployments(plan).items():
        pod = _pod(deployment)
        account = accounts[pod["serviceAccountName"]]
        [role] = [r for r in roles.values() if r.outputs["arn"] == account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]]
        condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
        sub = next(v for k, v in condition.items() if k.endswith(":sub"))
        assert sub == f"system:serviceaccount:{account.inputs['metadata']['namespace']}:{account.inputs['metadata']['name']}"
        model_uri = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}["MLSERVE_MODEL_URI"]
        bucket, prefix = re.fullmatch(r"s3://([^/]+)/(.+/)", model_uri).groups()
        statements = json.loads(policies[role.id].inputs["policy"])["Statement"]
        key = plan.one("aws:kms/key:Key", "model-store-key").outputs["arn"]
        assert [s["Resource"] for s in statements] == [f"arn:aws:s3:::{bucket}/{prefix}*", f"arn:aws:s3:::{bucket}", key]
        assert statements[1]["Condition"]["StringLike"]["s3:prefix"] == [prefix, f"{prefix}*"]
        assert f"mlserve-prod-models-{FAKE_ACCOUNT_ID}-us-west-2" == bucket


def test_each_autoscaler_targets_its_deployment_and_each_pdb_selects_its_pods(built_plan):
    plan = built_plan(MANUAL_PROD)
    deployments = {r.inputs["metadata"]["name"]: r for r in plan.of_type(DEPLOYMENT)}
    scalers = plan.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert sorted(h.inputs["spec"]["scaleTargetRef"]["name"] for h in scalers) == sorted(deployments)
    for scaler in scalers:
        assert "replicas" not in deployments[scaler.inputs["spec"]["scaleTargetRef"]["name"]].inputs["spec"]
    budgets = plan.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    assert sorted(json.dumps(b.inputs["spec"]["selector"], sort_keys=True) for b in budgets) == sorted(
        json.dumps(d.inputs["spec"]["selector"], sort_keys=True) for d in deployments.values())


def test_images_are_digests_in_the_stacks_repository_gpu_only_for_gpu_pools(built_plan):
    assert set(built_plan("prod").exports["image_refs"]) == {"cpu"}  # both tracks on the CPU pool
    # A GPU model: prod's tracks on its GPU pool, which then starts the 4 nodes they need.
    values = stack_values("prod")
    _gpu_tracks(values, 4)
    plan = engine.run_program(ROOT / "__main__.py", stack="prod", config=as_config(values))
    repository = plan.one("aws:ecr/repository:Repository").outputs["repositoryUrl"]
    refs = plan.exports["image_refs"]
    assert set(refs) == {"cpu", "gpu"}  # cpu is always built (SageMaker)
    for deployment in plan.of_type(DEPLOYMENT):
        image = _pod(deployment)["containers"][0]["image"]
        assert re.fullmatch(re.escape(repository) + r"@sha256:[0-9a-f]{64}", image)
        assert image == refs["gpu" if "nvidia.com/gpu" in _pod(deployment)["containers"][0]["resources"]["limits"] else "cpu"]


def test_the_drain_outlasts_the_pause_and_the_servers_grace(built_plan):
    for deployment in built_plan(MANUAL_PROD).of_type(DEPLOYMENT):
        pod = _pod(deployment)
        container = pod["containers"][0]
        grace = float({e["name"]: e["value"] for e in container["env"]}["MLSERVE_SHUTDOWN_GRACE_S"])
        assert grace == ServerLimits().shutdown_grace_s
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > pause + grace
        # The sidecar drains as long as the server does, and ends within the grace period.
        proxy = json.loads(deployment.inputs["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"])
        assert pause + grace <= float(proxy["terminationDrainDuration"].removesuffix("s")) < pod["terminationGracePeriodSeconds"]


def test_prod_routes_ten_percent_to_the_canary_with_the_header_route_and_no_mirror(built_plan):
    plan = built_plan(MANUAL_PROD)
    header, weighted = _vs(plan).inputs["spec"]["http"]
    assert header["match"][0]["headers"] == {"x-mlserve-canary": {"exact": "always"}}
    weights = {d["destination"]["subset"]: d["weight"] for d in weighted["route"]}
    assert weights == {"stable": 90, "canary": 10} and sum(weights.values()) == 100
    assert "mirrors" not in weighted
    assert plan.exports["route_weights"] == weights
    gateway = plan.one("kubernetes:networking.istio.io/v1:Gateway")
    assert _vs(plan).inputs["spec"]["gateways"] == [f"{gateway.inputs['metadata']['namespace']}/{gateway.inputs['metadata']['name']}"]
    assert plan.exports["ingress_url"].startswith("http://")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_ingress_nlb_follows_the_mesh_settings(stack, built_plan):
    [gateway] = [r for r in built_plan(stack).of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "gateway"]
    assert gateway.inputs["values"]["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


def test_autoscalers_follow_the_server_container_and_routes_outwait_the_server(built_plan):
    plan = built_plan(MANUAL_PROD)
    for hpa in plan.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler"):
        [metric] = hpa.inputs["spec"]["metrics"]
        deployment = plan.one(DEPLOYMENT, hpa.name.replace("-autoscaler", "-deployment"))
        assert metric["containerResource"]["container"] == _pod(deployment)["containers"][0]["name"]
    server_timeout = max(float({e["name"]: e["value"] for e in _pod(d)["containers"][0]["env"]}["MLSERVE_REQUEST_TIMEOUT_S"])
                         for d in plan.of_type(DEPLOYMENT))
    for route in _vs(plan).inputs["spec"]["http"]:
        assert float(route["timeout"].removesuffix("s")) > server_timeout
