"""The serving workloads under the offline engine: per track a Deployment on its pool (labels,
scheduling, hardening, probes, drain), its HPA and PDB, its IRSA role; one Service."""

from __future__ import annotations

import copy
import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as kubernetes
import pytest

from components.node_pools import NodePoolArgs, Taint
from components.serving import Serving, ServingArgs, TrackArgs, read_policy
from components.serving_pods import PRE_STOP_SLEEP_S, TrackPodSpec, termination_grace_seconds
from tests.components.addons_support import OIDC_ISSUER, OIDC_PROVIDER_ARN
from tests.crd_schema import is_custom, validate_custom
from tests.k8s_schema import manifest_from_inputs, validate_manifest
from tests.pod_security import restricted_violations

NS = "mlserve-serving"
BUCKET_ARN = "arn:aws:s3:::mlserve-prod-models-123456789012-us-west-2"
KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/model-store-key-id"
CPU = NodePoolArgs(name="cpu", instance_types=("m7i.xlarge",), capacity_type="ON_DEMAND", min_size=1, desired_size=1, max_size=3)
# At its minimum the pool holds 2 replicas of one GPU each (the component's capacity rule).
GPU = NodePoolArgs(name="gpu", instance_types=("g6.2xlarge",), capacity_type="ON_DEMAND", min_size=2, desired_size=2,
                   max_size=4, gpu=True, taints=(Taint(key="nvidia.com/gpu", value="true", effect="NO_SCHEDULE"),))
DIGEST = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mlserve-prod/serving-app@sha256:" + "a" * 64


def _track(track, version, pool, gpus=0, shutdown_grace_s=20.0):
    return TrackArgs(
        pod=TrackPodSpec(track=track, model_name="fraud-model", model_version=version, node_pool=pool, gpus=gpus,
                         server_env={"MLSERVE_MAX_BATCH_SIZE": "32", "MLSERVE_SHUTDOWN_GRACE_S": str(shutdown_grace_s)},
                         shutdown_grace_s=shutdown_grace_s),
        image=DIGEST, model_uri=f"s3://mlserve-prod-models-123456789012-us-west-2/models/fraud-model/{version}/",
        read_arn=f"{BUCKET_ARN}/models/fraud-model/{version}/*", min_replicas=2, max_replicas=5)


def build(run_pulumi, tracks, rollout="manual"):
    def program():
        providers = [aws.Provider("aws", region="us-west-2"), kubernetes.Provider("k8s", kubeconfig="{}")]
        serving = Serving("serving", ServingArgs(namespace=NS, tracks=tracks, bucket_arn=BUCKET_ARN, model_kms_key_arn=KEY_ARN,
                                                 oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=OIDC_ISSUER,
                                                 rollout=rollout),
                          opts=pulumi.ResourceOptions(providers=providers))
        pulumi.export("roles", serving.role_arns)

    return run_pulumi(program, stack="prod")


@pytest.fixture
def plan(run_pulumi):
    return build(run_pulumi, (_track("stable", "3", CPU), _track("canary", "4", GPU, gpus=1)))


def _by_track(plan, type_token):
    return {r.name.split("-")[1]: r for r in plan.of_type(type_token)}


def test_pods_carry_the_labels_their_selector_and_the_service_select(plan):
    deployments = _by_track(plan, "kubernetes:apps/v1:Deployment")
    service = plan.one("kubernetes:core/v1:Service")
    for track, deployment in deployments.items():
        labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        assert deployment.inputs["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert service.inputs["spec"]["selector"].items() <= labels.items()
        assert labels["mlserve.io/track"] == track
    assert deployments["canary"].inputs["spec"]["template"]["metadata"]["labels"]["mlserve.io/model-version"] == "4"


def test_a_gpu_pod_tolerates_its_pool_taint_selects_its_pool_and_asks_for_gpus(plan):
    deployments = _by_track(plan, "kubernetes:apps/v1:Deployment")
    gpu_pod = deployments["canary"].inputs["spec"]["template"]["spec"]
    assert gpu_pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    assert gpu_pod["nodeSelector"] == {"mlserve.io/node-pool": "gpu"}
    resources = gpu_pod["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == "1"
    cpu_pod = deployments["stable"].inputs["spec"]["template"]["spec"]
    assert cpu_pod.get("tolerations", []) == [] and cpu_pod["nodeSelector"] == {"mlserve.io/node-pool": "cpu"}
    assert "nvidia.com/gpu" not in cpu_pod["containers"][0]["resources"]["limits"]


def test_pods_pass_pod_security_restricted_with_a_read_only_root_and_a_writable_tmp(plan):
    for deployment in plan.of_type("kubernetes:apps/v1:Deployment"):
        pod = deployment.inputs["spec"]["template"]["spec"]
        assert restricted_violations(pod) == []
        assert pod["automountServiceAccountToken"] is False, "the server never calls the Kubernetes API"
        [container] = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["runAsUser"] == 10001  # serving_app/Dockerfile's UID
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert [v["name"] for v in pod["volumes"] if "emptyDir" in v] == ["tmp"]


def test_the_restricted_check_catches_an_escalating_container(plan):
    pod = copy.deepcopy(plan.of_type("kubernetes:apps/v1:Deployment")[0].inputs["spec"]["template"]["spec"])
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    assert len(restricted_violations(pod)) == 2


def test_drain_holds_the_pre_stop_pause_plus_the_servers_grace(run_pulumi):
    plan = build(run_pulumi, (_track("stable", "3", CPU, shutdown_grace_s=42.5),))
    pod = plan.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = float({e["name"]: e["value"] for e in container["env"]}["MLSERVE_SHUTDOWN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] > pause + grace
    assert termination_grace_seconds(42.5) == PRE_STOP_SLEEP_S + 43 + 5


def test_probes_use_the_servers_health_routes_on_its_port(plan):
    [container] = plan.one("kubernetes:apps/v1:Deployment", "serving-stable-deployment").inputs["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080}
    assert container["image"] == DIGEST
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLSERVE_MODEL_URI"].endswith("/models/fraud-model/3/") and env["MLSERVE_MAX_BATCH_SIZE"] == "32"


SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"


def test_each_autoscaler_targets_its_deployment_which_leaves_replicas_to_it(plan):
    deployments = _by_track(plan, "kubernetes:apps/v1:Deployment")
    scalers = _by_track(plan, SCALED_OBJECT)
    assert set(scalers) == set(deployments) == {"stable", "canary"}
    for track, scaler in scalers.items():
        spec = scaler.inputs["spec"]
        assert "replicas" not in deployments[track].inputs["spec"]
        target = spec["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployments[track].inputs["metadata"]["name"])
        assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 5)
        queue, cpu = spec["triggers"]
        # Queued requests per pod of this track only (manual mode tells the tracks apart by label), then CPU.
        assert queue["metricType"] == "AverageValue" and queue["metadata"]["threshold"] == "4"
        assert f'track="{track}"' in queue["metadata"]["query"] and 'namespace="mlserve-serving"' in queue["metadata"]["query"]
        assert cpu == {"type": "cpu", "name": "cpu", "metricType": "Utilization",
                       "metadata": {"value": "70", "containerName": "model-server"}}
        assert scaler.ignore_changes == []
    for track, budget in _by_track(plan, "kubernetes:policy/v1:PodDisruptionBudget").items():
        assert budget.inputs["spec"]["selector"] == deployments[track].inputs["spec"]["selector"]


def test_each_role_trusts_its_own_service_account_and_reads_only_its_version(plan):
    accounts = _by_track(plan, "kubernetes:core/v1:ServiceAccount")
    deployments = _by_track(plan, "kubernetes:apps/v1:Deployment")
    policies = _by_track(plan, "aws:iam/rolePolicy:RolePolicy")
    for track, role in _by_track(plan, "aws:iam/role:Role").items():
        name = accounts[track].inputs["metadata"]["name"]
        assert deployments[track].inputs["spec"]["template"]["spec"]["serviceAccountName"] == name
        assert accounts[track].inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
        condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
        assert condition[f"{OIDC_ISSUER}:sub"] == f"system:serviceaccount:{NS}:{name}"
        version = "3" if track == "stable" else "4"
        statements = json.loads(policies[track].inputs["policy"])["Statement"]
        assert statements[0]["Resource"] == f"{BUCKET_ARN}/models/fraud-model/{version}/*"
        assert statements[1]["Condition"]["StringLike"]["s3:prefix"] == [f"models/fraud-model/{version}/",
                                                                         f"models/fraud-model/{version}/*"]
        # The objects are SSE-KMS: decrypt with the store's key, through S3 only.
        assert statements[2] == {"Sid": "DecryptModelVersion", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN,
                                 "Condition": {"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}}}


def test_every_object_passes_the_strict_schema(plan):
    for resource in plan.resources:
        if resource.package == "kubernetes" and resource.custom and not resource.type.startswith("pulumi:"):
            manifest = manifest_from_inputs(resource.inputs)
            if is_custom(manifest["apiVersion"], manifest["kind"]):
                validate_custom(manifest)  # the ScaledObject, against KEDA's pinned CRD
            else:
                validate_manifest(manifest, "1.36")


def test_read_policy_and_args_refusals():
    assert read_policy(f"{BUCKET_ARN}/models/m/1/*", BUCKET_ARN, KEY_ARN)["Statement"][1]["Resource"] == BUCKET_ARN
    with pytest.raises(ValueError, match="GPU pool"):
        TrackPodSpec(track="stable", model_name="m", model_version="1", node_pool=GPU)
    with pytest.raises(ValueError, match="no GPUs"):
        TrackPodSpec(track="stable", model_name="m", model_version="1", node_pool=CPU, gpus=1)
    with pytest.raises(ValueError, match="MLSERVE_MODEL_URI"):
        TrackPodSpec(track="stable", model_name="m", model_version="1", node_pool=CPU, server_env={"MLSERVE_MODEL_URI": "x"})
    with pytest.raises(ValueError, match=r"\['stable'\] or"):
        ServingArgs(namespace=NS, tracks=(_track("canary", "4", CPU),), bucket_arn=BUCKET_ARN, model_kms_key_arn=KEY_ARN,
                    oidc_provider_arn=OIDC_PROVIDER_ARN, oidc_issuer=OIDC_ISSUER)


def test_automatic_mode_declares_flaggers_target_and_leaves_what_flagger_owns(run_pulumi):
    plan = build(run_pulumi, (_track("stable", "4", CPU),), rollout="automatic")
    [deployment] = plan.of_type("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["metadata"]["name"] == "model-server"  # Flagger derives model-server-primary
    assert deployment.inputs["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "model-server"}}
    labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
    assert "mlserve.io/track" not in labels  # Flagger would copy it to the primary as is
    assert deployment.ignore_changes == ["spec.replicas"]  # scaled to 0 by Flagger after a promotion
    assert plan.of_type("kubernetes:core/v1:Service") == []  # Flagger makes model-server, -primary, -canary
    [scaler] = plan.of_type(SCALED_OBJECT)
    assert scaler.ignore_changes == ['metadata.annotations["autoscaling.keda.sh/paused-replicas"]']
    assert 'workload="model-server"' in scaler.inputs["spec"]["triggers"][0]["metadata"]["query"]
    budgets = {b.inputs["metadata"]["name"]: b.inputs["spec"]["selector"] for b in plan.of_type("kubernetes:policy/v1:PodDisruptionBudget")}
    assert budgets == {"model-server": {"matchLabels": {"app.kubernetes.io/name": "model-server"}},
                       "model-server-primary": {"matchLabels": {"app.kubernetes.io/name": "model-server-primary"}}}
    # The primary keeps the last promoted version, which the stack no longer names: the role reads the model's versions.
    [policy] = plan.of_type("aws:iam/rolePolicy:RolePolicy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["ReadModelVersion"]["Resource"] == f"{BUCKET_ARN}/models/fraud-model/*"
    with pytest.raises(ValueError, match="one version"):
        ServingArgs(namespace=NS, tracks=(_track("stable", "3", CPU), _track("canary", "4", CPU)), bucket_arn=BUCKET_ARN,
                    model_kms_key_arn=KEY_ARN, oidc_provider_arn="a", oidc_issuer="i", rollout="automatic")


def test_an_automatic_rollout_on_a_gpu_pool_leaves_room_for_flaggers_canary():
    """GPU holds 2 one-GPU pods at its minimum: enough for the stable track by hand, not for the primary
    and Flagger's canary side by side during an analysis."""
    ServingArgs(namespace=NS, tracks=(_track("stable", "3", GPU, gpus=1),), bucket_arn=BUCKET_ARN,
                model_kms_key_arn=KEY_ARN, oidc_provider_arn="a", oidc_issuer="i", rollout="manual")
    with pytest.raises(ValueError, match=r"stable \(Flagger's canary\) 2 x 1 GPU\) need 4 node"):
        ServingArgs(namespace=NS, tracks=(_track("stable", "3", GPU, gpus=1),), bucket_arn=BUCKET_ARN,
                    model_kms_key_arn=KEY_ARN, oidc_provider_arn="a", oidc_issuer="i", rollout="automatic")
