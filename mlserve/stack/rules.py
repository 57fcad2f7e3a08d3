"""The net under the settings loader: every component's Args built once, before any resource.

Placeholders stand in for values that only exist after deployment (a VPC id, a role ARN), so a
rule only a component knows still fails as a settings error naming the stack file, and a stack is
never half-created. The loader (`mlserve/stack/settings/`) mirrors these rules with the stack file's
key names; this is what catches a rule added to a component and not to the loader.
"""

from __future__ import annotations

from components.image import GitState
from components.model_store import ModelStoreArgs
from components.sagemaker import ModelNetworkArgs
from mlserve.stack.args.alarms import alarms_args
from mlserve.stack.args.cluster import cluster_args
from mlserve.stack.args.delivery import canary_args, flagger_args, local_sample_path, metrics_stack_args
from mlserve.stack.args.image import image_args
from mlserve.stack.args.mesh import mesh_args
from mlserve.stack.args.model_store import model_store_args
from mlserve.stack.args.monitoring import monitoring_args
from mlserve.stack.args.network import network_args
from mlserve.stack.args.registry import registry_args
from mlserve.stack.args.sagemaker import sagemaker_args, served_tracks
from mlserve.stack.args.serving import StoreRefs, routing_args, serving_args
from mlserve.stack.settings import Settings, SettingsError
from mlserve.stack.settings.base import NAMESPACE
from mlserve.stack.settings.loader import stack_file_name


def check_component_rules(settings: Settings, stack: str, *, git=None) -> None:
    """Raise SettingsError if any component's Args refuse these settings. `git` is the serving
    image context's `components.image.GitState` (the image tag derives from it)."""
    placeholder_subnets = [f"subnet-{zone}" for zone in settings.network.availability_zones]
    try:
        registry_args(settings, stack)
        network_args(settings, stack)
        store = model_store_args(settings, stack) if settings.models is not None else None
        if "eks" in settings.targets:
            cluster_args(settings, stack, vpc_id="vpc-placeholder", private_subnet_ids=placeholder_subnets)
        check_serving_rules(settings, git=git, store=store)
        check_sagemaker_rules(settings, stack)
    except ValueError as error:
        problem = str(error) if str(error).startswith(f"{NAMESPACE}:") else f"{NAMESPACE}: {error}"
        raise SettingsError(stack_file_name(stack), [problem]) from None


def _placeholder_store(store: ModelStoreArgs) -> StoreRefs:
    """Plan-time stand-ins with the store's real versions, for the component-rule net."""
    tracks = store.tracks
    return StoreRefs(model_uris={t: "s3://b/models/m/v/" for t in tracks}, read_arns={t: "arn:aws:s3:::b/models/m/v/*" for t in tracks},
                     versions={t: (m.name, m.version) for t, m in tracks.items()}, bucket_arn="arn:aws:s3:::b",
                     kms_key_arn="arn:aws:kms:us-west-2:123456789012:key/k")


def check_serving_rules(settings: Settings, *, git: GitState | None, store: ModelStoreArgs | None) -> None:
    """Build every serving Args with placeholders, so a rule only a component knows fails before
    anything is declared (called by `check_component_rules`; `store` is the model store's Args it
    built, None without `models`). Raises ValueError."""
    if settings.models is None or store is None:
        return
    image = image_args(settings, repository_url="123456789012.dkr.ecr.placeholder/x", git=git)
    if "eks" not in settings.targets:
        return
    mesh_args(settings, cluster_name="c", vpc_id="v", oidc_provider_arn="a", oidc_issuer="i")
    routing_args(settings, gateway="istio-ingress/g")
    serving_args(settings, image_refs={v: "r@sha256:0" for v in image.variants}, store=_placeholder_store(store),
                 oidc_provider_arn="a", oidc_issuer="i")
    metrics_stack_args(settings)
    if settings.rollout.mode == "automatic":
        sample = local_sample_path(settings)
        if sample is not None and not sample.is_file():
            raise ValueError(f"{NAMESPACE}:models.stable = {settings.models.stable!r}: no {sample.name}; rollout.mode "
                             "automatic sends its rows to each new version before it gets traffic")
        flagger_args(settings)
        canary_args(settings, gateway="istio-ingress/g", autoscaler="model-server", expected_version=store.tracks["stable"].version,
                    rows=[[0.0]], templates_namespace="n", loadtester_url="http://t/", alert_provider=None)


def check_sagemaker_rules(settings: Settings, stack: str) -> None:
    """Build the alarms', the monitoring's and the endpoint's Args with placeholders."""
    alarms = alarms_args(settings, stack)
    if "eks" in settings.targets:
        monitoring_args(settings, stack, oidc_provider_arn="arn", oidc_issuer="issuer")
    if "sagemaker" in settings.targets:
        tracks = served_tracks(settings)
        sagemaker_args(
            settings, stack, image_uri="image", repository_arn="repository", registry_kms_key_arn="key",
            model_data_urls={t: "s3://placeholder/model.tar.gz" for t in tracks}, model_read_arns=["arn"],
            model_bucket_arn="arn:aws:s3:::placeholder", model_kms_key_arn="key",
            rollback_alarm_names=[spec.suffix for spec in alarms.specs if spec.rollback],
            network=ModelNetworkArgs(vpc_id="vpc-placeholder", subnet_ids=["subnet-a", "subnet-b"],
                                     vpc_cidr=settings.network.vpc_cidr, s3_prefix_list_id="pl-placeholder"),
        )
