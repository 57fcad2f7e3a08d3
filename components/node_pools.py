"""Node pools: EKS managed node groups, each with its own launch template, tagged so
cluster-autoscaler finds them and can scale them up from zero.

The decisions (labels, autoscaler tags, GPUs per instance) are plain functions over
`NodePoolArgs`, tested without Pulumi; `create_node_pool` only turns them into resources.
The autoscaler's tag keys come from `components/autoscaler.py`, which its IAM policy reads too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import pulumi
import pulumi_aws as aws

from components.amis import AmiType, ami_release_version, ami_type_for, instance_family
from components.autoscaler import AUTOSCALER_NODE_TEMPLATE_TAG, AUTOSCALER_TAG_PREFIX, autoscaler_discovery_tags
from components.instance_types import ec2_instance_types, unknown_type_problem

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"
POOL_LABEL = "mlserve.io/node-pool"
ACCELERATOR_LABEL = "mlserve.io/accelerator"
# The NVIDIA device plugin chart only schedules its DaemonSet onto nodes with this label (or
# the PCI label node-feature-discovery would set, which this cluster does not run).
# https://github.com/NVIDIA/k8s-device-plugin/blob/main/deployments/helm/nvidia-device-plugin/values.yaml
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
# cluster-autoscaler's GPU label on AWS. A new GPU node advertises no `nvidia.com/gpu` until the
# device plugin registers; without this label the autoscaler takes the node for one that cannot
# run the pending pod and may launch several more for it. The value names the GPU model, so one
# pool holds one model. https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md#gpu-node-groups
ACCELERATOR_LABEL_AWS = "k8s.amazonaws.com/accelerator"
# GPU model per instance family (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html).
GPU_MODELS: dict[str, str] = {
    "g4dn": "nvidia-tesla-t4", "g5": "nvidia-a10g", "g5g": "nvidia-t4g", "g6": "nvidia-l4", "gr6": "nvidia-l4",
    "g6e": "nvidia-l40s", "p4d": "nvidia-a100", "p4de": "nvidia-a100-80gb", "p5": "nvidia-h100",
    "p5e": "nvidia-h200", "p5en": "nvidia-h200",
}

# EKS API spelling -> Kubernetes spelling, which cluster-autoscaler's template tags use.
# https://docs.aws.amazon.com/eks/latest/APIReference/API_Taint.html
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
CAPACITY_TYPES = ("ON_DEMAND", "SPOT")

# NVIDIA GPUs per instance type, for the scale-from-zero hint. Types not listed are refused in a
# GPU pool rather than guessed; every key is an EC2 type in botocore's list (a test holds that).
# https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html
GPUS_PER_INSTANCE: dict[str, int] = {
    **{f"{family}.{size}": 1 for family in ("g4dn", "g5", "g6", "g6e")
       for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g4dn.12xlarge": 4, "g4dn.metal": 8,
    **{f"{family}.{size}": 4 for family in ("g5", "g6", "g6e") for size in ("12xlarge", "24xlarge")},
    **{f"{family}.48xlarge": 8 for family in ("g5", "g6", "g6e")},
    "gr6.4xlarge": 1, "gr6.8xlarge": 1,
    **{f"g5g.{size}": 1 for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge")},
    "g5g.16xlarge": 2, "g5g.metal": 2,
    "p4d.24xlarge": 8, "p4de.24xlarge": 8, "p5.4xlarge": 1, "p5.48xlarge": 8, "p5e.48xlarge": 8, "p5en.48xlarge": 8,
}

_POOL_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
# Labels this module sets itself; a pool may not override them.
RESERVED_LABELS = (POOL_LABEL, ACCELERATOR_LABEL, GPU_PRESENT_LABEL, ACCELERATOR_LABEL_AWS)


def gpu_model(instance_types: Sequence[str]) -> str:
    """The one GPU model of a GPU pool's instance types ("g6.xlarge", "gr6.4xlarge" -> "nvidia-l4").

    Raises ValueError when a family has no known model or when the types carry different
    models: the autoscaler label names one model per node group, so such a pool must be split."""
    models: dict[str, str] = {}
    for instance_type in instance_types:
        family = instance_family(instance_type)
        if family not in GPU_MODELS:
            raise ValueError(f"{instance_type!r}: no GPU model known for family {family!r} (GPU_MODELS in components/node_pools.py)")
        models.setdefault(GPU_MODELS[family], instance_type)
    if len(models) > 1:
        detail = ", ".join(f"{example} has {model}" for model, example in models.items())
        raise ValueError(f"instance types carry different GPUs ({detail}); one GPU model per pool: split it into pools")
    return next(iter(models))


@dataclass(frozen=True, kw_only=True)
class Taint:
    """A Kubernetes taint on every node of a pool."""

    key: str
    """Taint key, e.g. "nvidia.com/gpu"."""

    value: str
    """Taint value, e.g. "true"."""

    effect: str
    """EKS API spelling: "NO_SCHEDULE", "NO_EXECUTE" or "PREFER_NO_SCHEDULE"."""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("Taint.key must not be empty")
        if self.effect not in TAINT_EFFECTS:
            raise ValueError(f"Taint.effect {self.effect!r} is not one of {', '.join(TAINT_EFFECTS)} (EKS API spelling)")


@dataclass(frozen=True, kw_only=True)
class NodePoolArgs:
    """One managed node group: instances of one AMI type, scaled by cluster-autoscaler
    between `min_size` and `max_size`."""

    name: str
    """Pool name, e.g. "cpu" or "gpu": lowercase letters, digits, "-", at most 31 characters.
    Becomes the `mlserve.io/node-pool` label."""

    instance_types: tuple[str, ...]
    """EC2 instance types; all must need the same AMI type (see `components.amis`). Several
    types widen the Spot capacity pools a SPOT pool can draw from."""

    capacity_type: str
    """"ON_DEMAND" or "SPOT"."""

    min_size: int
    """Fewest nodes, at least 0 (0 lets an idle GPU pool cost nothing)."""

    desired_size: int
    """Nodes at creation, between `min_size` and `max_size`; cluster-autoscaler owns it afterwards."""

    max_size: int
    """Most nodes, at least 1."""

    disk_size_gib: int = 50
    """Default 50, 20 to 16384. Root volume (gp3) size; images and emptyDir live there."""

    gpu: bool = False
    """Default False. True needs NVIDIA instance types (with GPU counts in `GPUS_PER_INSTANCE`)
    and the `nvidia.com/gpu` NO_SCHEDULE taint; False forbids GPU instance types."""

    labels: Mapping[str, str] = field(default_factory=dict)
    """Default none. Extra node labels; copied into a read-only mapping. May not set
    `mlserve.io/node-pool`, `mlserve.io/accelerator` or `nvidia.com/gpu.present`."""

    taints: tuple[Taint, ...] = ()
    """Default none. Node taints; a GPU pool must include `nvidia.com/gpu=true:NO_SCHEDULE`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "instance_types", tuple(self.instance_types))
        object.__setattr__(self, "taints", tuple(self.taints))
        where = f"node pool {self.name!r}"
        if not _POOL_NAME.fullmatch(self.name):
            raise ValueError(f"{where}: name must be lowercase letters, digits and '-', starting with a letter, at most 31 characters")
        problems = [p for t in self.instance_types if (p := unknown_type_problem(t, ec2_instance_types(), "an EC2 instance type"))]
        if problems:
            raise ValueError(f"{where}: instance_types: {'; '.join(problems)}")
        try:
            ami_type = ami_type_for(self.instance_types)
        except ValueError as error:
            raise ValueError(f"{where}: instance_types: {error}") from None
        if self.capacity_type not in CAPACITY_TYPES:
            raise ValueError(f"{where}: capacity_type {self.capacity_type!r} is not one of {', '.join(CAPACITY_TYPES)}")
        if not 0 <= self.min_size <= self.desired_size <= self.max_size or self.max_size < 1:
            raise ValueError(
                f"{where}: need 0 <= min_size <= desired_size <= max_size and max_size >= 1, got "
                f"min_size={self.min_size}, desired_size={self.desired_size}, max_size={self.max_size}"
            )
        # The EKS-optimized AL2023 AMIs have a 20 GiB root snapshot; gp3 volumes end at 16 TiB.
        if not 20 <= self.disk_size_gib <= 16384:
            raise ValueError(f"{where}: disk_size_gib must be 20 to 16384, got {self.disk_size_gib}")
        if self.gpu:
            if not ami_type.is_gpu:
                raise ValueError(f"{where}: gpu=True but instance_types {list(self.instance_types)} need {ami_type.value}, not an NVIDIA AMI")
            unknown = [t for t in self.instance_types if t not in GPUS_PER_INSTANCE]
            if unknown:
                raise ValueError(f"{where}: instance_types {unknown}: GPU count per instance not known to mlserve; "
                                 f"GPU pools take {', '.join(sorted(GPUS_PER_INSTANCE))}")
            try:
                gpu_model(self.instance_types)
            except ValueError as error:
                raise ValueError(f"{where}: instance_types: {error}") from None
            if not any(t.key == GPU_TAINT_KEY and t.effect == "NO_SCHEDULE" for t in self.taints):
                raise ValueError(
                    f"{where}: taints: a GPU pool needs Taint(key={GPU_TAINT_KEY!r}, value='true', effect='NO_SCHEDULE') "
                    "so only pods that request GPUs land on its nodes"
                )
        elif ami_type.is_gpu:
            raise ValueError(f"{where}: instance_types {list(self.instance_types)} are GPU instances: set gpu=True (and the {GPU_TAINT_KEY} taint)")
        keys = [(t.key, t.effect) for t in self.taints]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{where}: taints repeat a key/effect pair: {keys}")
        reserved = sorted(set(self.labels) & set(RESERVED_LABELS))
        if reserved:
            raise ValueError(f"{where}: labels {reserved} are set by the cluster component; remove them")

    @property
    def ami_type(self) -> AmiType:
        return ami_type_for(self.instance_types)


def gpus_per_node(pool: NodePoolArgs) -> int:
    """GPUs on the smallest instance type of a GPU pool (0 for a CPU pool).

    The smallest, because cluster-autoscaler trusts the hint when it scales up from zero: a
    hint larger than what a node really has would start nodes the pending pod cannot use.
    """
    if not pool.gpu:
        return 0
    return min(GPUS_PER_INSTANCE[t] for t in pool.instance_types)


def gpu_capacity_problem(pool: NodePoolArgs, demands: Sequence[tuple[str, int, int]]) -> str | None:
    """Why a GPU pool at its minimum cannot run the fewest replicas it hosts, or None.

    `demands`: (track, min_replicas, gpus per pod) of each track on the pool. The pool's minimum
    nodes, counted at its smallest instance type's GPUs, must hold every track's minimum replicas;
    otherwise every fresh deploy waits for the cluster-autoscaler to add GPU nodes."""
    if not pool.gpu or not demands:
        return None
    per_node = gpus_per_node(pool)
    too_big = [(track, gpus) for track, _, gpus in demands if gpus > per_node]
    if too_big:
        return (f"pool {pool.name!r}: pods of {', '.join(f'{t} ({g} GPUs)' for t, g in too_big)} do not fit one node "
                f"of its smallest type ({per_node} GPU(s))")
    pods_per_node = {track: per_node // gpus for track, _, gpus in demands}
    # Pods of one track need whole GPUs on one node: count nodes per track, the tracks side by side.
    needed = sum(-(-replicas // pods_per_node[track]) for track, replicas, _ in demands)
    if pool.min_size >= needed:
        return None
    detail = " + ".join(f"{track} {replicas} x {gpus} GPU" for track, replicas, gpus in demands)
    return (f"pool {pool.name!r} starts {pool.min_size} node(s) of {per_node} GPU(s) but its minimum replicas "
            f"({detail}) need {needed} node(s)")


def node_labels(pool: NodePoolArgs) -> dict[str, str]:
    """Labels on every node of the pool: the pool's own, the pool name, and for GPU pools the
    labels the NVIDIA device plugin, cluster-autoscaler (the GPU model) and GPU workloads select on."""
    labels = {**pool.labels, POOL_LABEL: pool.name}
    if pool.gpu:
        labels |= {GPU_PRESENT_LABEL: "true", ACCELERATOR_LABEL: "nvidia", ACCELERATOR_LABEL_AWS: gpu_model(pool.instance_types)}
    return labels


def scale_from_zero_tags(pool: NodePoolArgs) -> dict[str, str]:
    """Auto Scaling group tags describing the nodes a pool would start, for a pool with no
    running node to look at: its labels, taints and (GPU pools) GPU count. Without them
    cluster-autoscaler cannot tell that a pending GPU pod fits this pool and never scales it
    up from zero.
    https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md#scaling-a-node-group-to-0
    """
    template = AUTOSCALER_NODE_TEMPLATE_TAG
    tags = {f"{template}/label/{key}": value for key, value in node_labels(pool).items()}
    tags |= {f"{template}/taint/{t.key}": f"{t.value}:{TAINT_EFFECTS[t.effect]}" for t in pool.taints}
    if pool.gpu:
        tags[f"{template}/resources/{GPU_RESOURCE}"] = str(gpus_per_node(pool))
    return tags


def asg_tags(pool: NodePoolArgs, cluster_name: str) -> dict[str, str]:
    """Every tag the pool's Auto Scaling group needs: discovery (`components.autoscaler`, the
    tags its IAM policy is conditioned on) plus scale-from-zero hints."""
    return {**autoscaler_discovery_tags(cluster_name), **scale_from_zero_tags(pool)}


def _tag_resource_suffix(key: str) -> str:
    """A readable resource-name suffix for one ASG tag key."""
    return re.sub(r"[^a-z0-9]+", "-", key.removeprefix(f"{AUTOSCALER_TAG_PREFIX}/").lower()).strip("-")


def create_node_pool(
    name: str,
    pool: NodePoolArgs,
    *,
    cluster: aws.eks.Cluster,
    cluster_name: str,
    kubernetes_version: str,
    node_role_arn: pulumi.Input[str],
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    common_tags: Mapping[str, str],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
) -> aws.eks.NodeGroup:
    """The launch template, the managed node group and its ASG tags for one pool.

    `name` is the component's name; children are "<name>-<pool>-...". `depends_on` holds what
    nodes need before they can join and turn Ready (node role permissions, the VPC CNI).
    `kubernetes_version` is the control plane's minor: the nodes follow it, on the pinned AMI
    release of `components.amis.AMI_RELEASE_VERSIONS` (raises ValueError when none is pinned).
    """
    release_version = ami_release_version(kubernetes_version, pool.ami_type)
    child = pulumi.ResourceOptions(parent=parent)
    node_name = f"{cluster_name}-{pool.name}"

    # No image id and no user data: the managed node group then picks the EKS-optimized AMI of
    # `ami_type` and bootstraps it itself, and keeps it patched through `release_version`. No
    # security groups either: EKS then attaches the cluster security group.
    # https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html
    launch_template = aws.ec2.LaunchTemplate(
        f"{name}-{pool.name}-lt",
        description=f"Nodes of pool {pool.name} in EKS cluster {cluster_name}",
        update_default_version=True,
        # IMDSv2 only, and a hop limit of 1: the token response cannot cross the extra network
        # hop into a pod, so pods cannot take the node role's credentials (they get their own
        # through IRSA). "Restrict access to the instance profile assigned to the worker node":
        # https://docs.aws.amazon.com/eks/latest/best-practices/identity-and-access-management.html
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
        ),
        # /dev/xvda is the root device of the AL2023 EKS AMIs. gp3: baseline 3000 IOPS at any
        # size, cheaper than gp2. https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=pool.disk_size_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
                ),
            )
        ],
        # The provider's default_tags stop at the launch template itself; instances and their
        # volumes only get what the tag specifications name (cost allocation needs them).
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**common_tags, "Name": node_name})
            for kind in ("instance", "volume")
        ],
        opts=child,
    )

    node_group = aws.eks.NodeGroup(
        f"{name}-{pool.name}",
        cluster_name=cluster.name,
        node_role_arn=node_role_arn,
        subnet_ids=subnet_ids,
        ami_type=pool.ami_type.value,
        # The nodes follow the control plane's minor and take AMI patches through a pinned release:
        # without both, a control-plane upgrade leaves the nodes behind (and the next upgrade is
        # blocked by the version skew), and nodes never get a patched AMI. terraform-aws-modules/eks
        # sets both the same way. https://docs.aws.amazon.com/eks/latest/userguide/update-managed-node-group.html
        version=kubernetes_version,
        release_version=release_version,
        capacity_type=pool.capacity_type,
        instance_types=list(pool.instance_types),
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=pool.min_size, desired_size=pool.desired_size, max_size=pool.max_size
        ),
        # Replace a third of the nodes at a time during AMI or template rollouts.
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
        # EKS replaces nodes that stay unhealthy (terraform-aws-modules/eks v21 exposes the same
        # node_repair_config). Without the eks-node-monitoring-agent add-on (not installed here)
        # it acts on the node's Ready condition only, not on the agent's GPU and kernel conditions.
        # https://docs.aws.amazon.com/eks/latest/userguide/node-health.html
        node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
            id=launch_template.id, version=launch_template.latest_version.apply(lambda v: str(int(v)))
        ),
        labels=node_labels(pool),
        taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in pool.taints],
        tags=autoscaler_discovery_tags(cluster_name),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            # cluster-autoscaler owns the desired size once the group exists; without this every
            # `pulumi up` would reset it to the planned value and undo the autoscaler's work.
            # https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html
            ignore_changes=["scalingConfig.desiredSize"],
        ),
    )

    # EKS puts node group tags on the node group only, not on the Auto Scaling group it
    # creates, and cluster-autoscaler reads the ASG's tags: tag the ASG directly.
    # https://github.com/aws/containers-roadmap/issues/608
    asg_name = node_group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)
    for key, value in asg_tags(pool, cluster_name).items():
        aws.autoscaling.Tag(
            f"{name}-{pool.name}-asg-{_tag_resource_suffix(key)}",
            autoscaling_group_name=asg_name,
            # The tags describe the group to the autoscaler; instances need none of them.
            tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=child,
        )
    return node_group
