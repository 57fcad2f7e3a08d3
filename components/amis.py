"""Which EKS AMI type a node pool runs, decided from its instance families.

A pure table, tested without any cloud (the shape of pulumi-eks `nodes/ami.ts`). EKS stopped
publishing Amazon Linux 2 AMIs for Kubernetes 1.33+, so every type here is AL2023; its
NVIDIA variants ship the driver and the container toolkit:
https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html#AmazonEKS-Type-Nodegroup-amiType
"""

from __future__ import annotations

from enum import Enum


class AmiType(str, Enum):
    """Managed node group `amiType` values this project uses."""

    X86_64 = "AL2023_x86_64_STANDARD"
    ARM_64 = "AL2023_ARM_64_STANDARD"
    X86_64_NVIDIA = "AL2023_x86_64_NVIDIA"
    ARM_64_NVIDIA = "AL2023_ARM_64_NVIDIA"

    @property
    def is_gpu(self) -> bool:
        return self in (AmiType.X86_64_NVIDIA, AmiType.ARM_64_NVIDIA)


# Instance family -> AMI type. Families not listed are rejected: guessing an AMI for an
# unknown family (a new accelerator, a Neuron chip) gives nodes that boot but cannot
# run the pods meant for them.
FAMILY_AMI_TYPES: dict[str, AmiType] = {
    **{family: AmiType.X86_64_NVIDIA for family in ("g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en")},
    "g5g": AmiType.ARM_64_NVIDIA,  # Graviton2 with NVIDIA T4G
    **{family: AmiType.ARM_64 for family in (
        "t4g", "m6g", "m6gd", "m7g", "m7gd", "m8g", "c6g", "c6gd", "c6gn", "c7g", "c7gd", "c7gn", "c8g",
        "r6g", "r6gd", "r7g", "r7gd", "r8g",
    )},
    **{family: AmiType.X86_64 for family in (
        "t3", "t3a", "m5", "m5a", "m5d", "m6i", "m6id", "m6a", "m7i", "m7i-flex", "m7a", "m8i",
        "c5", "c5a", "c5d", "c6i", "c6id", "c6a", "c7i", "c7i-flex", "c7a", "c8i",
        "r5", "r5a", "r5d", "r6i", "r6id", "r6a", "r7i", "r7a", "r8i",
    )},
}


def instance_family(instance_type: str) -> str:
    """"g5.xlarge" -> "g5"."""
    family, dot, size = instance_type.partition(".")
    if not dot or not family or not size:
        raise ValueError(f"{instance_type!r} is not an EC2 instance type such as 'm7i.large'")
    return family


def ami_type_for(instance_types: list[str] | tuple[str, ...]) -> AmiType:
    """The one AMI type that fits every instance type of a pool.

    Raises ValueError naming the offending type when a family is unknown or when the
    types need different AMIs (a managed node group has exactly one `amiType`).
    """
    if not instance_types:
        raise ValueError("a node pool needs at least one instance type")
    chosen: dict[AmiType, str] = {}
    for instance_type in instance_types:
        family = instance_family(instance_type)
        if family not in FAMILY_AMI_TYPES:
            known = ", ".join(sorted(FAMILY_AMI_TYPES))
            raise ValueError(f"unknown instance family {family!r} (from {instance_type!r}); known families: {known}")
        chosen.setdefault(FAMILY_AMI_TYPES[family], instance_type)
    if len(chosen) > 1:
        detail = ", ".join(f"{example} needs {ami.value}" for ami, example in chosen.items())
        raise ValueError(f"instance types need different AMI types ({detail}); split them into separate pools")
    return next(iter(chosen))


# The EKS-optimized AMI release a managed node group runs, per Kubernetes minor and AMI type
# ("<kubernetes patch>-<build date>"). Pinned, not read from SSM at deploy time, so a plan shows
# the exact release and an AMI patch is a reviewed one-line diff (terraform-aws-modules/eks sets
# `release_version` too, from the same SSM parameter). Taken from public EKS stacks that pinned
# these releases for their standard and NVIDIA node groups (AL2023 releases share one version
# across AMI types): 1.35.0-20260129 (Jan 2026), 1.36.0-20260923 (amazon-eks-ami release of Sep
# 2026). Confirm (docs/deploying.md) with
#   aws ssm get-parameter --name /aws/service/eks/optimized-ami/<v>/amazon-linux-2023/<x86_64|arm64>/<standard|nvidia>/recommended/release_version
# https://docs.aws.amazon.com/eks/latest/userguide/eks-optimized-ami.html
AMI_RELEASE_VERSIONS: dict[str, dict[AmiType, str]] = {
    "1.35": {ami_type: "1.35.0-20260129" for ami_type in AmiType},
    "1.36": {ami_type: "1.36.0-20260923" for ami_type in AmiType},
}


def ami_release_version(kubernetes_version: str, ami_type: AmiType) -> str:
    """The pinned AMI release of `ami_type` for a Kubernetes minor ("1.36" -> "1.36.0-20260923").

    Raises ValueError naming the version and type when the table has none: a node group without
    a release version would take whatever is newest at creation and never move again."""
    try:
        return AMI_RELEASE_VERSIONS[kubernetes_version][ami_type]
    except KeyError:
        raise ValueError(
            f"no AMI release pinned for Kubernetes {kubernetes_version!r} and {ami_type.value}; "
            f"known minors: {', '.join(AMI_RELEASE_VERSIONS)} (add it to AMI_RELEASE_VERSIONS in components/amis.py)"
        ) from None
