"""The model server on Kubernetes, per track (stable, optional canary): a Deployment on its node pool,
its autoscaler (a KEDA ScaledObject: queued requests per pod from Prometheus, then CPU) and
PodDisruptionBudget, and a ServiceAccount with an IRSA role that can read only its own model version;
one Service across both tracks.

With `rollout="automatic"` there is one Deployment, `model-server`: Flagger's target (components/canary.py),
which copies it into `model-server-primary` on promotion and makes the Services itself, so none is declared here.

Pod details (scheduling, hardening, probes, drain) are plain functions in
`components/serving_pods.py`; names and labels shared with the mesh in
`components/serving_contract.py`. The Kubernetes and AWS providers come in through `opts`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as kubernetes

from components import delivery_specs
from components import serving_pods as pods
from components.iam_roles import irsa_trust_policy
from components.node_pools import gpu_capacity_problem
from components.prometheus_values import PROMETHEUS_URL
from components.serving_contract import (APP_LABEL, APP_NAME, PORT_NAME, SERVICE_NAME, SERVICE_PORT, TRACK_LABEL,
                                         deployment_name)

k8s = kubernetes
SERVER_CONTAINER = "model-server"


@dataclass(frozen=True, kw_only=True)
class TrackArgs:
    """One serving version: what it runs (resolved inputs) and how it is scaled."""

    pod: pods.TrackPodSpec
    """Pool, GPUs, resources, server settings and labels of the pods."""
    image: pulumi.Input[str]
    """The image by digest, "<repository>@sha256:<hex>" (components/image.py); never a tag."""
    model_uri: pulumi.Input[str]
    """"s3://<bucket>/models/<name>/<version>/": what the server loads (the model store's `model_uris[track]`)."""
    read_arn: pulumi.Input[str]
    """"arn:aws:s3:::<bucket>/models/<name>/<version>/*": the only objects its role may read (`read_arns[track]`)."""
    min_replicas: int = 2
    """Default 2. The HPA's floor."""
    max_replicas: int = 6
    """Default 6. The HPA's ceiling."""
    cpu_target_percent: int = 70
    """Default 70. Average CPU utilization (of the server container's request) the autoscaler aims for."""
    queued_requests_target: int = 4
    """Default 4. Requests waiting in each pod's batch queue the autoscaler aims for (its first signal)."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"{self.pod.track}: need 1 <= min_replicas <= max_replicas, got {self.min_replicas}, {self.max_replicas}")
        if not 1 <= self.cpu_target_percent <= 100:
            raise ValueError(f"{self.pod.track}: cpu_target_percent {self.cpu_target_percent} is not 1..100")
        if self.queued_requests_target < 1:
            raise ValueError(f"{self.pod.track}: queued_requests_target {self.queued_requests_target} is below 1")


@dataclass(frozen=True, kw_only=True)
class ServingArgs:
    """The serving workloads of one stack."""

    namespace: str
    """The serving namespace (components/mesh.py creates it; pass `depends_on` the mesh). A plain
    string: the IRSA trust policies name it at plan time."""
    tracks: tuple[TrackArgs, ...]
    """The stable track first, then optionally the canary."""
    bucket_arn: pulumi.Input[str]
    """The model store's bucket ARN (the roles may list only their own version's prefix in it)."""
    model_kms_key_arn: pulumi.Input[str]
    """The model store's KMS key: its objects are SSE-KMS, so reading one needs kms:Decrypt on it."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider ARN."""
    oidc_issuer: pulumi.Input[str]
    """The OIDC issuer without "https://"."""
    rollout: str = "manual"
    """Default "manual": a Deployment per track and the Service. "automatic": one Deployment, Flagger's
    target, and no Service (Flagger makes them); needs exactly one track."""
    prometheus_url: str = PROMETHEUS_URL
    """Default the monitoring stack's. Where the autoscaler reads the queue depth."""

    def __post_init__(self) -> None:
        if not self.namespace:
            raise ValueError("namespace must not be empty")
        names = [t.pod.track for t in self.tracks]
        if names not in (["stable"], ["stable", "canary"]):
            raise ValueError(f"tracks {names}: ['stable'] or ['stable', 'canary']")
        if self.rollout not in ("manual", "automatic"):
            raise ValueError(f"rollout {self.rollout!r}: 'manual' or 'automatic'")
        if self.rollout == "automatic" and names != ["stable"]:
            raise ValueError("rollout automatic serves one version (Flagger runs the canary): tracks must be ['stable']")
        pools = {t.pod.node_pool.name: t.pod.node_pool for t in self.tracks}
        for pool in pools.values():
            demands = [(t.pod.track, t.min_replicas, t.pod.gpus) for t in self.tracks if t.pod.node_pool.name == pool.name]
            if self.rollout == "automatic":  # during an analysis Flagger's canary starts beside the primary
                demands += [(f"{track} (Flagger's canary)", replicas, gpus) for track, replicas, gpus in demands]
            if problem := gpu_capacity_problem(pool, demands):
                raise ValueError(f"ServingArgs.tracks: {problem}; raise the pool's min_size or lower min_replicas")


def read_policy(read_arn: str, bucket_arn: str, key_arn: str) -> dict:
    """GetObject on the version's objects and ListBucket for that prefix only (the server lists the
    prefix, then downloads each object: serving_app/models/sources.py), and Decrypt with the store's
    key through S3 only: the objects are SSE-KMS, and the key policy leaves the grant to IAM
    (components/kms.py `via_service`).
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#aws-managed-customer-managed-keys"""
    prefix = read_arn.split(":::", 1)[1].split("/", 1)[1].removesuffix("*")
    region = key_arn.split(":")[3]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadModelVersion", "Effect": "Allow", "Action": "s3:GetObject", "Resource": read_arn},
            {"Sid": "ListModelVersion", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}},
            {"Sid": "DecryptModelVersion", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
             "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}},
        ],
    }


class Serving(pulumi.ComponentResource):
    """Per track a Deployment, HPA, PDB and ServiceAccount with its IRSA role; one Service."""

    service_name: str
    """The Service across both tracks (the mesh routes to its subsets; in automatic mode Flagger makes it)."""
    role_arns: dict[str, pulumi.Output[str]]
    """Per track, the IRSA role its pods read the model with."""
    autoscalers: dict[str, str]
    """Per track, the name of its ScaledObject (the Canary's `autoscalerRef` in automatic mode)."""
    workloads: list[pulumi.Resource]
    """The Deployments and ScaledObjects (a Canary waits for them)."""

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlserve:serving:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role_arns, self.autoscalers, self.workloads = {}, {}, []
        for track in args.tracks:
            self.role_arns[track.pod.track] = self._track(name, args, track, child)
        self.service_name = SERVICE_NAME
        if args.rollout == "automatic":
            self.register_outputs({"service_name": self.service_name, "role_arns": self.role_arns})
            return

        k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE_NAME, namespace=args.namespace, labels={APP_LABEL: APP_NAME}),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector={APP_LABEL: APP_NAME},  # both tracks; the DestinationRule splits them
                ports=[k8s.core.v1.ServicePortArgs(name=PORT_NAME, port=SERVICE_PORT, target_port=PORT_NAME,
                                                   protocol="TCP", app_protocol="http")],
            ),
            opts=child,
        )
        self.register_outputs({"service_name": self.service_name, "role_arns": self.role_arns})

    def _track(self, name: str, args: ServingArgs, track: TrackArgs, child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        automatic = args.rollout == "automatic"
        spec = track.pod
        # Flagger's target is named after the app; it derives "<name>-primary" from it.
        who = APP_NAME if automatic else deployment_name(spec.track)
        prefix = f"{name}-{spec.track}"
        # Under Flagger the primary keeps running the last promoted version, which the stack no longer
        # names, with this same service account: the role reads every version of the model.
        read_arn = (pulumi.Output.from_input(track.read_arn).apply(lambda arn: arn.rstrip("/*").rsplit("/", 1)[0] + "/*")
                    if automatic else track.read_arn)
        role = aws.iam.Role(
            f"{prefix}-role",
            description=f"model server {spec.track} (IRSA): reads {spec.model_name}/{spec.model_version} only",
            assume_role_policy=irsa_trust_policy(args.oidc_provider_arn, args.oidc_issuer,
                                                 namespace=args.namespace, service_account=who),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{prefix}-read-model", role=role.id,
            policy=pulumi.Output.all(read_arn, args.bucket_arn, args.model_kms_key_arn).apply(
                lambda v: json.dumps(read_policy(*v))),
            opts=child,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{prefix}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=who, namespace=args.namespace,
                                                annotations={"eks.amazonaws.com/role-arn": role.arn}),
            automount_service_account_token=False,  # the server never calls the Kubernetes API
            opts=child,
        )
        labels = pods.pod_labels(spec)
        selector = pods.selector_labels(spec.track)
        if automatic:
            # Flagger copies the template to the primary, changing only the selector label's value; a
            # track label would be copied as is and mislabel the primary, so there is none (the
            # PodMonitor and the CloudWatch agent tell the two apart by app name).
            labels = {k: v for k, v in labels.items() if k != TRACK_LABEL}
            selector = {APP_LABEL: APP_NAME}
        env = [k8s.core.v1.EnvVarArgs(name="MLSERVE_MODEL_URI", value=track.model_uri),
               k8s.core.v1.EnvVarArgs(name="MLSERVE_MODEL_CACHE_DIR", value="/tmp/model"),
               *[k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in sorted(spec.server_env.items())]]
        deployment = k8s.apps.v1.Deployment(
            f"{prefix}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=who, namespace=args.namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No `replicas`: the HPA owns it. Pulumi sends only the fields it declares (server-side
                # apply), so an `up` never resets what the HPA scaled to.
                # https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge="25%", max_unavailable=0)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations=pods.pod_annotations(spec)),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=who,
                        # The server never calls the Kubernetes API. IRSA's token is a projected volume of
                        # its own (added by EKS's pod identity webhook), as is the sidecar's istio-token.
                        # https://docs.aws.amazon.com/eks/latest/userguide/pod-configuration.html
                        automount_service_account_token=False,
                        security_context=pods.pod_security_context(),
                        node_selector=pods.node_selector(spec.node_pool),
                        tolerations=pods.tolerations(spec.node_pool),
                        topology_spread_constraints=pods.topology_spread(spec.track, selector),
                        termination_grace_period_seconds=pods.termination_grace_seconds(spec.shutdown_grace_s),
                        containers=[k8s.core.v1.ContainerArgs(
                            name=SERVER_CONTAINER,
                            image=track.image,
                            ports=pods.container_ports(),
                            env=env,
                            resources=pods.resources(spec),
                            security_context=pods.container_security_context(),
                            startup_probe=pods.startup_probe(),
                            readiness_probe=pods.readiness_probe(),
                            liveness_probe=pods.liveness_probe(),
                            lifecycle=k8s.core.v1.LifecycleArgs(
                                pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                                    sleep=k8s.core.v1.SleepActionArgs(seconds=pods.PRE_STOP_SLEEP_S))),
                            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
                        )],
                        volumes=[k8s.core.v1.VolumeArgs(
                            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=pods.TMP_SIZE_LIMIT))],
                    ),
                ),
            ),
            # Flagger scales its target to zero after each promotion; the stack never declares replicas.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, policy],
                                        ignore_changes=["spec.replicas"] if automatic else None),
        )
        # KEDA makes and owns the HPA from this. Under Flagger it is the Canary's autoscalerRef: Flagger
        # copies it for the primary (primaryScalerQueries) and pauses this one while no analysis runs,
        # by an annotation the stack must leave alone.
        scaled_object = k8s.apiextensions.CustomResource(
            f"{prefix}-autoscaler", api_version=delivery_specs.KEDA_API, kind="ScaledObject",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=who, namespace=args.namespace, labels=labels),
            spec=delivery_specs.scaled_object_spec(
                deployment=who, namespace=args.namespace,
                pods={delivery_specs.WORKLOAD_LABEL: APP_NAME} if automatic else {"track": spec.track},
                container=SERVER_CONTAINER, prometheus_url=args.prometheus_url,
                min_replicas=track.min_replicas, max_replicas=track.max_replicas,
                queued_requests_target=track.queued_requests_target, cpu_target_percent=track.cpu_target_percent,
                behavior=pods.scaling_behavior()),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[deployment],
                ignore_changes=['metadata.annotations["autoscaling.keda.sh/paused-replicas"]'] if automatic else None),
        )
        self.autoscalers[spec.track] = who
        self.workloads += [deployment, scaled_object]
        k8s.policy.v1.PodDisruptionBudget(
            f"{prefix}-disruption-budget",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=who, namespace=args.namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                # One pod at a time: a drain proceeds even at one replica (minAvailable: 1 would block it).
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                unhealthy_pod_eviction_policy="AlwaysAllow",  # a crash-looping pod never blocks a drain
            ),
            opts=child,
        )
        if automatic:  # Flagger's primary has no budget of its own unless declared here
            k8s.policy.v1.PodDisruptionBudget(
                f"{prefix}-primary-disruption-budget",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{who}-primary", namespace=args.namespace, labels=labels),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, unhealthy_pod_eviction_policy="AlwaysAllow",
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels={APP_LABEL: f"{APP_NAME}-primary"})),
                opts=child,
            )
        return role.arn

