"""mlserve: the Pulumi program. Loads the stack's settings, then wires the components.

`pulumi up -s dev` runs this file; so does `make preview` (offline, under mocks). Settings are
validated before any resource is declared, so a bad stack file creates nothing.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.alarms import Alarms
from components.canary import CanaryRollout
from components.canary_routing import CanaryRouting
from components.cluster import Cluster
from components.cluster_addons import ClusterAddons
from components.eks_monitoring import EksMonitoring
from components.flagger import Flagger
from components.image import ServingImage, read_git_state
from components.keda import Keda
from components.mesh import Mesh
from components.metrics_stack import MetricsStack
from components.model_store import ModelStore
from components.network import Network
from components.registry import Registry
from components.sagemaker import SageMakerEndpoint
from components.serving import Serving
from mlserve.stack import rules as stack_rules
from mlserve.stack.args.alarms import alarms_args
from mlserve.stack.args.cluster import cluster_addons_args, cluster_args
from mlserve.stack.args.delivery import canary_args, flagger_args, metrics_stack_args, sample_rows
from mlserve.stack.args.image import IMAGE_CONTEXT, image_args
from mlserve.stack.args.mesh import mesh_args
from mlserve.stack.args.model_store import model_store_args
from mlserve.stack.args.monitoring import monitoring_args
from mlserve.stack.args.network import network_args
from mlserve.stack.args.registry import registry_args
from mlserve.stack.args.naming import endpoint_name
from mlserve.stack.args.sagemaker import endpoint_inputs, model_network, sagemaker_args
from mlserve.stack.args.serving import routing_args, serving_args, store_refs
from mlserve.stack.running import running_variants
from mlserve.stack.settings import load
from policies.cost.usage import STACK_OUTPUT as COST_ASSUMPTIONS

settings = load()
stack = pulumi.get_stack()
git = read_git_state(Path(__file__).parent / IMAGE_CONTEXT)
stack_rules.check_component_rules(settings, stack, git=git)

# One explicit AWS provider: the region and the cost-allocation tags (default_tags reach every
# taggable resource) come from the stack file, never from the caller's environment.
aws_provider = aws.Provider(
    "aws",
    region=settings.region,
    default_tags=aws.ProviderDefaultTagsArgs(tags=settings.tags.as_dict()),
)
aws_only = pulumi.ResourceOptions(providers=[aws_provider])
# The usage the cost estimate assumes (mlserve:cost): make preview and the policy pack's budget rule read it here.
pulumi.export(COST_ASSUMPTIONS, settings.cost.usage().to_mapping())

registry = Registry("registry", registry_args(settings, stack), opts=aws_only)
pulumi.export("repository_url", registry.repository_url)

# The model versions both serving targets load; dev uploads its local artifact directory here.
if settings.models is not None:
    model_store = ModelStore("model-store", model_store_args(settings, stack), opts=aws_only)
    pulumi.export("model_bucket_name", model_store.bucket_name)
    pulumi.export("model_uris", model_store.model_uris)
    pulumi.export("model_archive_uris", model_store.archive_uris)

network = Network("network", network_args(settings, stack), opts=aws_only)
pulumi.export("vpc_id", network.vpc_id)

if "eks" in settings.targets:
    cluster = Cluster(
        "cluster",
        cluster_args(
            settings, stack, vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids
        ),
        opts=aws_only,
    )
    k8s_and_aws = [aws_provider, cluster.provider]
    nodes_ready = [*cluster.node_groups.values(), *cluster.system_addons]  # nodes exist, CoreDNS answers
    # The mesh's AWS Load Balancer Controller comes first: its webhook refuses every Service created
    # while it starts, so every other release and add-on waits for it (components/mesh.py).
    mesh = Mesh("mesh", mesh_args(
        settings, cluster_name=cluster.cluster_name, vpc_id=network.vpc_id,
        oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer),
        opts=pulumi.ResourceOptions(providers=k8s_and_aws, depends_on=nodes_ready))
    # In-cluster add-ons (GPU device plugin, metrics-server, cluster-autoscaler) through the cluster's
    # own Kubernetes provider.
    addons = ClusterAddons("cluster-addons", cluster_addons_args(settings, cluster),
                           opts=pulumi.ResourceOptions(providers=k8s_and_aws, depends_on=[*nodes_ready, mesh.lb_controller]))
    # Container Insights and the serving pods' Prometheus metrics, for the EKS alarms.
    EksMonitoring(
        "monitoring",
        monitoring_args(settings, stack, oidc_provider_arn=cluster.oidc_provider_arn,
                                       oidc_issuer=cluster.oidc_issuer),
        opts=aws_only,
        depends_on=[*nodes_ready, mesh.lb_controller],
    )
    pulumi.export("cluster_name", cluster.cluster_name)
    pulumi.export("cluster_endpoint", cluster.endpoint)
    pulumi.export("oidc_provider_arn", cluster.oidc_provider_arn)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("autoscaler_role_arn", addons.autoscaler_role_arn)

if settings.models is not None:
    image = ServingImage("image", image_args(settings, repository_url=registry.repository_url, git=git),
                         opts=aws_only)
    pulumi.export("image_refs", image.image_refs)

if "eks" in settings.targets:
    pulumi.export("ingress_url", mesh.ingress_url)
    # Prometheus and Grafana (what the analysis, the autoscaler and the dashboard read), then KEDA.
    after_mesh = pulumi.ResourceOptions(providers=k8s_and_aws, depends_on=[mesh])
    metrics = MetricsStack("metrics", metrics_stack_args(settings), opts=after_mesh)
    keda = Keda("keda", replicas=settings.mesh.replicas, opts=pulumi.ResourceOptions(providers=[cluster.provider],
                                                                                     depends_on=[addons]))
    if settings.models is not None:
        serving = Serving("serving", serving_args(
            settings, image_refs=image.image_refs, store=store_refs(model_store),
            oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer),
            opts=pulumi.ResourceOptions(providers=k8s_and_aws, depends_on=[mesh, addons, keda.release]))
        pulumi.export("serving_roles", serving.role_arns)
        if settings.rollout.mode == "automatic":  # Flagger moves the traffic: no routes of our own
            flagger = Flagger("flagger", flagger_args(settings), opts=pulumi.ResourceOptions(
                providers=[cluster.provider], depends_on=[mesh, metrics.release]))
            rollout = CanaryRollout("canary", canary_args(
                settings, gateway=mesh.gateway, autoscaler=serving.autoscalers["stable"],
                expected_version=model_store.versions["stable"][1],
                rows=sample_rows(settings, bucket_name=model_store.bucket_name),
                templates_namespace=flagger.templates_namespace, loadtester_url=flagger.loadtester_url,
                alert_provider=flagger.alert_provider_name),
                opts=pulumi.ResourceOptions(providers=[aws_provider, cluster.provider]),
                depends_on=[*flagger.ready, *serving.workloads])
            pulumi.export("canary", rollout.canary_ref)
        else:  # the weights of the stack file
            routing = CanaryRouting("routing", routing_args(settings, gateway=mesh.gateway),
                                    opts=pulumi.ResourceOptions(providers=[cluster.provider], depends_on=[mesh, serving]))
            pulumi.export("route_weights", routing.weights)

# Alarms first: the endpoint's name is fixed per stack, so the alarms can name it before it exists,
# and the endpoint's guardrails roll back on these alarms (names passed as outputs, never retyped).
alarms = Alarms("alarms", alarms_args(settings, stack), opts=aws_only)
pulumi.export("alarm_topic_arn", alarms.topic_arn)
pulumi.export("alarm_names", list(alarms.alarm_names.values()))
pulumi.export("dashboard_name", alarms.dashboard_name)

if "sagemaker" in settings.targets:
    # The live endpoint's fleet (one AWS read): a deploy never starts the new fleet below it.
    running = running_variants(endpoint_name(stack), settings.region)
    endpoint = SageMakerEndpoint(
        "sagemaker",
        sagemaker_args(
            settings, stack, rollback_alarm_names=alarms.rollback_alarm_names, network=model_network(network),
            running=running, **endpoint_inputs(registry, model_store, image_uri=image.image_refs["cpu"]),
        ),
        opts=aws_only,
    )
    pulumi.export("sagemaker_endpoint_name", endpoint.endpoint_name)
    # What `python -m mlserve.checks gate` waits for: this configuration on the endpoint.
    pulumi.export("sagemaker_endpoint_config_name", endpoint.endpoint_config_name)
