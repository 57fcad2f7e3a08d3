"""Per-stack settings: one loader reads `pulumi.Config("mlserve")` into pydantic models
before any resource is declared.

The stack files (`Pulumi.<stack>.yaml`) hold only what differs from the defaults here.
Keys are camelCase, as Pulumi config keys usually are. A bad value fails `make preview`
and `pulumi up` alike with one `SettingsError` that lists every bad key, its value, what
is allowed, and the stack file it came from.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Any, Literal

from pulumi.errors import RunError
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from components.amis import AMI_RELEASE_VERSIONS, ami_type_for
from components.autoscaler import AUTOSCALER_IMAGE_TAGS
from components.cluster_access import private_cidr_problem, public_cidr_problem, security_group_problem
from components.eks_monitoring import ADDON_VERSIONS as MONITORING_ADDON_VERSIONS
from components.managed_addons import DEFAULT_ADDON_VERSIONS, REQUIRED_ADDONS
from components.node_pools import RESERVED_LABELS, gpu_model
from mlserve.settings_base import NAMESPACE, RetentionDays, _Model
from mlserve.settings_model_store import ModelStoreSettings, model_store_problems
from mlserve.settings_alarms import AlarmSettings
from mlserve.settings_models import Models, Rollout, model_problems
from mlserve.settings_sagemaker import SageMakerSettings, sagemaker_problems
from mlserve.settings_serving import MeshSettings, ServingSettings, serving_problems

# The Kubernetes minors the stack can build: those with pinned EKS add-on versions, a pinned
# cluster-autoscaler image, pinned node AMI releases and a pinned CloudWatch Observability add-on
# (the tables live with the components that use them). The newest is the default.
KUBERNETES_VERSIONS = tuple(
    sorted(set(DEFAULT_ADDON_VERSIONS) & set(AUTOSCALER_IMAGE_TAGS) & set(AMI_RELEASE_VERSIONS)
           & set(MONITORING_ADDON_VERSIONS),
           key=lambda v: tuple(int(part) for part in v.split(".")))
)
DEFAULT_KUBERNETES_VERSION = KUBERNETES_VERSIONS[-1]
# The registry scanning filter of the stack that owns it: every stack's repository
# ("mlserve-<stack>/...") in the account and region.
REGISTRY_SCANNING_FILTER = "mlserve-*"
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
GPU_TAINT_KEY = "nvidia.com/gpu"


class Tags(_Model):
    """Cost-allocation tags applied to every taggable AWS resource (provider default_tags)."""

    environment: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    cost_center: str = Field(alias="cost-center", min_length=1)

    def as_dict(self) -> dict[str, str]:
        return {"environment": self.environment, "owner": self.owner, "cost-center": self.cost_center}


class NetworkSettings(_Model):
    """The VPC. `natGateways`: "single" (one NAT, cheap, dev) or "one-per-az" (HA, prod)."""

    vpc_cidr: str = "10.20.0.0/16"
    availability_zones: list[str]
    nat_gateways: Literal["single", "one-per-az"] = "single"
    flow_logs_retention_days: RetentionDays = 30

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"not an IPv4 CIDR block such as 10.20.0.0/16 ({error})") from None
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("the VPC needs a /16 to /20 block (pods take VPC addresses with the VPC CNI)")
        if not network.is_private:
            raise ValueError("use a private range (RFC 1918): 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, zones: list[str]) -> list[str]:
        if not 2 <= len(zones) <= 3:
            raise ValueError(f"2 or 3 availability zones allowed (EKS needs 2; a third adds HA), got {len(zones)}")
        if len(set(zones)) != len(zones):
            raise ValueError("availability zones must be distinct")
        return zones


class Taint(_Model):
    key: str = Field(min_length=1)
    value: str = ""
    effect: Literal["NoSchedule", "NoExecute", "PreferNoSchedule"]


class NodePool(_Model):
    """One managed node group. GPU pools must carry the `nvidia.com/gpu` NoSchedule taint."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    instance_types: list[str] = Field(min_length=1)
    capacity_type: Literal["on-demand", "spot"] = "on-demand"
    min_size: int = Field(ge=0, le=1000)
    desired_size: int = Field(ge=0, le=1000)
    max_size: int = Field(ge=1, le=1000)
    disk_gib: int = Field(default=50, ge=20, le=16384)
    gpu: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        reserved = sorted(set(labels) & set(RESERVED_LABELS))
        if reserved:
            raise ValueError(f"{reserved} are set by the stack itself; remove them")
        return labels

    @field_validator("instance_types")
    @classmethod
    def _known_families(cls, instance_types: list[str]) -> list[str]:
        ami_type_for(instance_types)  # raises ValueError naming the family
        return instance_types

    @model_validator(mode="after")
    def _consistent(self) -> NodePool:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"need minSize <= desiredSize <= maxSize, got {self.min_size} <= {self.desired_size} <= {self.max_size}"
            )
        ami_type = ami_type_for(self.instance_types)
        if self.gpu and not ami_type.is_gpu:
            raise ValueError(f"gpu: true but {self.instance_types} are not GPU instance types (g4dn, g5, g6, p4d, p5, ...)")
        if not self.gpu and ami_type.is_gpu:
            raise ValueError(f"{self.instance_types} are GPU instance types: set gpu: true (and the {GPU_TAINT_KEY} taint)")
        pairs = [(t.key, t.effect) for t in self.taints]
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"taints repeat a key/effect pair: {pairs}")
        if self.gpu:
            gpu_model(self.instance_types)  # one GPU model per pool; raises ValueError naming the types
        if self.gpu and not any(t.key == GPU_TAINT_KEY and t.effect == "NoSchedule" for t in self.taints):
            raise ValueError(
                f"a GPU pool needs the taint {{key: {GPU_TAINT_KEY}, value: 'true', effect: NoSchedule}} "
                "so only pods that ask for GPUs land on its costly nodes"
            )
        return self


class ClusterSettings(_Model):
    """The EKS control plane."""

    kubernetes_version: Literal[KUBERNETES_VERSIONS] = DEFAULT_KUBERNETES_VERSION  # type: ignore[valid-type]
    upgrade_policy: Literal["STANDARD", "EXTENDED"] = "EXTENDED"
    endpoint_public_access: bool = False
    public_access_cidrs: list[str] = Field(default_factory=list)
    private_access_cidrs: list[str] = Field(default_factory=list)
    private_access_security_group_ids: list[str] = Field(default_factory=list)
    log_types: list[Literal[CONTROL_PLANE_LOG_TYPES]] = Field(default_factory=lambda: list(CONTROL_PLANE_LOG_TYPES))  # type: ignore[valid-type]
    log_retention_days: RetentionDays = 30
    deletion_protection: bool = False
    admin_role_arns: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")]] = Field(default_factory=list)
    addon_versions: dict[str, str] = Field(default_factory=dict)

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        return _each(cidrs, public_cidr_problem)

    @field_validator("private_access_cidrs")
    @classmethod
    def _private_cidrs(cls, cidrs: list[str]) -> list[str]:
        return _each(cidrs, private_cidr_problem)

    @field_validator("private_access_security_group_ids")
    @classmethod
    def _security_groups(cls, group_ids: list[str]) -> list[str]:
        return _each(group_ids, security_group_problem)

    @field_validator("addon_versions")
    @classmethod
    def _addons(cls, versions: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(versions) - set(REQUIRED_ADDONS))
        if unknown:
            raise ValueError(f"unknown add-ons {unknown}; pinned add-ons: {list(REQUIRED_ADDONS)}")
        malformed = {name: v for name, v in versions.items() if not re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", v)}
        if malformed:
            raise ValueError(f"{malformed}: EKS add-on versions look like 'v1.20.4-eksbuild.1'")
        return versions

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterSettings:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise ValueError("endpointPublicAccess: true needs publicAccessCidrs (the networks allowed to reach the API)")
        if not self.endpoint_public_access and self.public_access_cidrs:
            raise ValueError("publicAccessCidrs is set but endpointPublicAccess is false: remove one of them")
        return self


def _each(values: list[str], problem_of) -> list[str]:
    problems = [problem for value in values if (problem := problem_of(value))]
    if problems:
        raise ValueError("; ".join(problems))
    if len(set(values)) != len(values):
        raise ValueError("each value at most once")
    return values


class RegistrySettings(_Model):
    """The ECR repository for the serving image."""

    force_delete: bool = False
    keep_release_tags: int = Field(default=10, ge=1, le=1000)
    untagged_expiry_days: int = Field(default=3, ge=1, le=365)
    own_registry_scanning: bool = False
    """Whether this stack owns the account's (per region) ECR registry scanning configuration."""


class Settings(_Model):
    """Everything one stack can set, under the `mlserve:` namespace."""

    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    tags: Tags
    targets: list[Literal["eks", "sagemaker"]] = Field(default_factory=lambda: ["eks"], min_length=1)
    network: NetworkSettings
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    node_pools: list[NodePool] = Field(min_length=1)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    models: Models | None = None
    """The serving versions (`mlserve/settings_models.py`); None until a target serves a model."""
    rollout: Rollout = Field(default_factory=Rollout)
    model_store: ModelStoreSettings = Field(default_factory=ModelStoreSettings)
    """The model store bucket (`mlserve/settings_model_store.py`); created whenever `models` is set."""
    sagemaker: SageMakerSettings = Field(default_factory=SageMakerSettings)
    """The SageMaker endpoint (`mlserve/settings_sagemaker.py`); used when `targets` has `sagemaker`."""
    alarms: AlarmSettings = Field(default_factory=AlarmSettings)
    """Alarm thresholds, the topic's subscribers, paging on or off (`mlserve/settings_alarms.py`)."""
    serving: ServingSettings = Field(default_factory=ServingSettings)
    """The model server on EKS (`mlserve/settings_serving.py`): image, pools, replicas, limits per track."""
    mesh: MeshSettings = Field(default_factory=MeshSettings)
    """The Istio ingress: load balancer scheme, TLS, optional JWT."""


def _cross_field_problems(settings: Settings) -> list[str]:
    """Rules that span sections; checked once every section is valid on its own."""
    problems = []
    wrong_region = [zone for zone in settings.network.availability_zones if not zone.startswith(settings.region)]
    if wrong_region:
        problems.append(
            f"{NAMESPACE}:network.availabilityZones = {json.dumps(wrong_region)}: not in region {settings.region}"
        )
    names = [pool.name for pool in settings.node_pools]
    if len(set(names)) != len(names):
        problems.append(f"{NAMESPACE}:nodePools = names {json.dumps(names)}: pool names must be unique")
    if "eks" in settings.targets and not any(
        not pool.gpu and not pool.taints and pool.min_size >= 1 for pool in settings.node_pools
    ):
        problems.append(
            f"{NAMESPACE}:nodePools: need one CPU pool without taints and minSize >= 1 "
            "(CoreDNS and the other system pods run there)"
        )
    cluster = settings.cluster
    if "eks" in settings.targets and not (
        cluster.endpoint_public_access or cluster.private_access_cidrs or cluster.private_access_security_group_ids
    ):
        problems.append(
            f"{NAMESPACE}:cluster: a private-only API endpoint needs privateAccessCidrs or privateAccessSecurityGroupIds, "
            "the deploy runner's way in (pulumi up talks to the API; README 'Deploying for real')"
        )
    if settings.registry.force_delete and settings.cluster.deletion_protection:
        problems.append(
            f"{NAMESPACE}:registry.forceDelete = true: contradicts cluster.deletionProtection = true "
            "(a protected stack keeps its images); set one of them to false"
        )
    problems.extend(model_problems(settings.models, settings.rollout))
    problems.extend(model_store_problems(settings.model_store, deletion_protection=settings.cluster.deletion_protection))
    problems.extend(sagemaker_problems(settings.sagemaker, targets=settings.targets, models=settings.models,
                                       environment=settings.tags.environment))
    problems.extend(serving_problems(settings.serving, node_pools=settings.node_pools, targets=settings.targets,
                                     has_canary=settings.models is not None and settings.models.canary is not None))
    return problems


class SettingsError(RunError, ValueError):
    """Every problem with a stack's settings at once, each naming key, value and what is allowed.

    A `pulumi.RunError`, so `pulumi up` prints the message alone, without a Python traceback."""

    def __init__(self, stack_file: str, problems: list[str]) -> None:
        self.stack_file = stack_file
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} invalid setting(s) in {stack_file}:\n{lines}")


def parse(raw: dict[str, str], *, stack_file: str) -> Settings:
    """Validate the `mlserve:` keys of a config map (values as the Pulumi CLI passes them:
    strings, with structured values as JSON). Raises SettingsError listing every problem."""
    values: dict[str, Any] = {}
    for full_key, text in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        values[key] = _decode(text)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsError(stack_file, [_describe(item) for item in error.errors()]) from None
    problems = _cross_field_problems(settings)
    if problems:
        raise SettingsError(stack_file, problems)
    return settings


def _decode(text: Any) -> Any:
    if isinstance(text, str) and text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _describe(item: dict[str, Any]) -> str:
    path = _path(item["loc"])
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        return f"{path}: unknown key (allowed here: {_allowed_keys(item['loc'])})"
    if item["type"] == "missing":
        return f"{path}: required, not set"
    value = item.get("input")
    if isinstance(value, dict) and "name" in value:  # a whole pool failed a cross-field rule
        return f"{path} (name: {value['name']}): {message}"
    shown = json.dumps(value, default=str)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return f"{path} = {shown}: {message}"


def _path(loc: tuple[Any, ...]) -> str:
    text = NAMESPACE + ":"
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-plain") or str(part).startswith("literal["):
            continue
        else:
            text += ("." if index else "") + str(part)
    return text


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: Any = Settings
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            break
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel) else annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return ", ".join(field.alias or name for name, field in model.model_fields.items())
    return "none"


def load() -> Settings:
    """Read the running stack's config (from `pulumi up` or the offline engine alike)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse(raw, stack_file=f"Pulumi.{pulumi.get_stack()}.yaml")
